"""A CODEX_HOME that points the real `codex` at a scripted Responses API on 127.0.0.1.

config.toml names a model provider `stub` (base_url = the fake, wire_api = "responses", key from
`STUB_KEY_VAR`, no retries), a model catalog holding one model `MODEL` (without a catalog entry
Codex offers no `apply_patch` tool), turns off the features that reach the network at start
(plugins, apps, analytics, update checks, model discovery) and trusts the workspace. The model
entry is Codex's own bundled `gpt-5.5` entry renamed, read once per test run with
`codex debug models --bundled`, so the catalog format always matches the installed version.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

MODEL = "tether-test"
STUB_KEY_VAR = "TETHER_STUB_KEY"
CATALOG_TIMEOUT_S = 60
# Features that start network traffic or add tools a scripted model never calls.
FEATURES_OFF = (
    "plugins",
    "apps",
    "remote_plugin",
    "plugin_sharing",
    "image_generation",
    "browser_use",
    "browser_use_external",
    "in_app_browser",
    "computer_use",
    "enable_request_compression",
    "shell_snapshot",
    "api_key_model_discovery",
    "guardian_approval",
    "tool_suggest",
    "skill_mcp_dependency_install",
    "skill_search",
    "in_app_updates",
    "code_mode_host",
    "daemon_auto_start",
    "goals",
    "sleep_tool",
    "view_image",
    "unbounded_connection_retries",
    "workspace_dependencies",
    "hooks",
)


@functools.cache
def _bundled_model(codex: str) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "CODEX_HOME": "/nonexistent-tether-codex-home"}
    out = subprocess.run(
        [codex, "debug", "models", "--bundled"],
        capture_output=True,
        env=env,
        timeout=CATALOG_TIMEOUT_S,
        check=True,
    ).stdout
    models = json.loads(out)["models"]
    return dict(next(m for m in models if m["slug"] == "gpt-5.5"))


def write_codex_home(
    home: Path, codex: Path, base_url: str, workspace: Path, sandbox: str = "read-only"
) -> Path:
    """Fill `home` (created if missing) and return it; use it as CODEX_HOME and HOME."""
    home.mkdir(parents=True, exist_ok=True)
    model = _bundled_model(str(codex)) | {
        "slug": MODEL,
        "display_name": "Tether test model",
        "description": "scripted by the tests",
        "base_instructions": "You are a coding agent.",
        "model_messages": None,
        "upgrade": None,
        "availability_nux": None,
        "supported_reasoning_levels": [],
        "default_reasoning_level": None,
        "additional_speed_tiers": [],
        "service_tiers": [],
        "include_skills_usage_instructions": False,
        "include_plugin_usage_instructions": False,
        "include_apps_usage_instructions": False,
        "supports_search_tool": False,
        "input_modalities": ["text"],
    }
    catalog = home / "models.json"
    catalog.write_text(json.dumps({"models": [model]}))
    features = "".join(f"{name} = false\n" for name in FEATURES_OFF)
    (home / "config.toml").write_text(
        f"""model = "{MODEL}"
model_provider = "stub"
model_catalog_json = {json.dumps(str(catalog))}
sandbox_mode = "{sandbox}"
check_for_update_on_startup = false
web_search = "disabled"

[model_providers.stub]
name = "stub"
base_url = "{base_url}"
wire_api = "responses"
env_key = "{STUB_KEY_VAR}"
request_max_retries = 0
stream_max_retries = 0

[features]
{features}
[analytics]
enabled = false

[projects.{json.dumps(str(workspace))}]
trust_level = "trusted"
"""
    )
    return home


def codex_env(home: Path) -> dict[str, str]:
    """What the agent needs beyond the relay's allow-list (PATH is allowed through already)."""
    return {"CODEX_HOME": str(home), "HOME": str(home), STUB_KEY_VAR: "sk-tether-test"}

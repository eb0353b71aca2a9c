"""The XSS corpus: agent output that tries to run script in the PWA.

Every payload that would run sets `window.__xss` and/or opens a dialog (alert, confirm, print
from a frame that could reach its parent), which tests/pwa/browser.py's Watch records. The corpus
is emitted as a Markdown message, inside tool inputs, diffs and command output of a real `claude`
session, and as raw PTY output (which also carries the ANSI and OSC escape tricks).
"""

from __future__ import annotations

RUN = "window.__xss=1;alert(1)"
START = "XSS-CORPUS-START"
END = "XSS-CORPUS-END"  # rendered last: once visible, everything before it has rendered

PAYLOADS: tuple[str, ...] = (
    # plain HTML
    f"<script>{RUN}</script>",
    f'<img src=x onerror="{RUN}">',
    f'<img src="x" onerror={RUN}//>',
    f'<body onload="{RUN}">',
    f'<details open ontoggle="{RUN}"><summary>toggle</summary></details>',
    f'<input autofocus onfocus="{RUN}">',
    f'<div onmouseover="{RUN}" style="position:fixed;inset:0">cover</div>',
    f'<marquee onstart="{RUN}">m</marquee>',
    f'<video><source onerror="{RUN}"></video>',
    f'<a href="javascript:{RUN}">plain js link</a>',
    f'<a href="JaVaScRiPt:{RUN}">mixed case js link</a>',
    f'<a href="jav&#x09;ascript:{RUN}">entity tab js link</a>',
    f'<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;{RUN}">entities</a>',
    '<a href="data:text/html,<script>parent.__xss=1;alert(1)</script>">data link</a>',
    '<a href="vbscript:msgbox(1)">vbscript link</a>',
    '<iframe srcdoc="<script>parent.window.__xss=1;parent.alert(1)</script>"></iframe>',
    '<iframe src="javascript:parent.window.__xss=1"></iframe>',
    f'<object data="javascript:{RUN}"></object>',
    f'<embed src="javascript:{RUN}">',
    f'<form action="javascript:{RUN}"><button>submit</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
    '<base href="javascript:window.__xss=1//">',
    f'<link rel="import" href="data:text/html,<script>{RUN}</script>">',
    # SVG and MathML
    f'<svg onload="{RUN}"></svg>',
    f"<svg><script>{RUN}</script></svg>",
    f'<svg><a xlink:href="javascript:{RUN}"><text x="0" y="20">svg link</text></a></svg>',
    f'<svg><animate onbegin="{RUN}" attributeName="x" dur="1s"/></svg>',
    f'<svg><foreignObject><img src=x onerror="{RUN}"></foreignObject></svg>',
    "<math><mtext><table><mglyph><style>"
    f'<img src=x onerror="{RUN}"></style></mglyph></table></mtext></math>',
    f'<noscript><p title="</noscript><img src=x onerror={RUN}>"></noscript>',
    # CSS
    '<div style="background:url(javascript:window.__xss=1);width:expression(alert(1))">css</div>',
    "<style>@import 'javascript:alert(1)'; body{background:url(javascript:alert(1))}</style>",
    # Markdown tricks
    f"[markdown js link](javascript:{RUN})",
    "[markdown js link, encoded](javascript&#58;window.__xss=1)",
    "[markdown js link, spaced](  javascript:window.__xss=1  )",
    "[markdown data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[markdown ref link][evil]\n\n[evil]: javascript:window.__xss=1",
    '[markdown ref, titled][evil2]\n\n[evil2]: javascript:alert(1) "title"',
    f'![markdown image](x" onerror="{RUN})',
    f"![markdown js image](javascript:{RUN})",
    "<javascript:window.__xss=1>",
    f'[link with html](<a href="javascript:{RUN}">x</a>)',
    f"`<script>{RUN}</script>` in a code span",
    f'```html\n<script>{RUN}</script>\n<img src=x onerror="{RUN}">\n```',
    # entity tricks
    "&lt;script&gt;window.__xss=1&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;",
    '<img src=x onerror="&#119;indow.__xss=1;&#97;lert(1)">',
    # ANSI / OSC escapes (text in Markdown; interpreted by the terminal in PTY output)
    "\x1b[31mred ANSI\x1b[0m <b>bold</b>",
    "\x1b]8;;javascript:window.__xss=1\x1b\\OSC 8 js hyperlink\x1b]8;;\x1b\\",
    "\x1b]0;<img src=x onerror=alert(1)>\x07title set",
    "\x1b]52;c;PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\x07clipboard write",
)


def corpus(escapes: bool = True) -> str:
    """The whole corpus as one Markdown text, between the START and END sentinels."""
    parts = [p for p in PAYLOADS if escapes or "\x1b" not in p]
    return "\n\n".join([START, *parts, END])

// /setup#<token>: the owner's first passkey, from the link `tether serve` prints on first start.

import { setSignedIn } from "../../app/auth";
import { here, navigate } from "../../app/router";
import { LinkSignup } from "../components/identity/link_signup";
import "../../styles/identity.css";

export default function SetupScreen() {
  const token = here.value.hash.replace(/^#/, "");
  return (
    <div class="id-page">
      <h1>Welcome to Tether</h1>
      <p class="id-lead">Create the owner's passkey: you will be able to invite everyone else.</p>
      <LinkSignup
        kind="setup"
        token={token}
        onSignedIn={(me) => {
          setSignedIn(me);
          navigate("/", { replace: true }); // also drops the used token from the address bar
        }}
      />
    </div>
  );
}

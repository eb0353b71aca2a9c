// /invite#<token>: a new user accepts an invite by creating their first passkey.

import { setSignedIn } from "../../app/auth";
import { here, navigate } from "../../app/router";
import { LinkSignup } from "../components/identity/link_signup";
import "../../styles/identity.css";

export default function InviteScreen() {
  const token = here.value.hash.replace(/^#/, "");
  return (
    <div class="id-page">
      <h1>Join Tether</h1>
      <LinkSignup
        kind="invite"
        token={token}
        onSignedIn={(me) => {
          setSignedIn(me);
          navigate("/", { replace: true }); // also drops the used token from the address bar
        }}
      />
    </div>
  );
}

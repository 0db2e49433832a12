// Folio sign-in: posts the form as JSON, then goes to the station.
"use strict";
(function () {
  const form = document.getElementById("login");
  const user = document.getElementById("user");
  const password = document.getElementById("password");
  const message = document.getElementById("message");
  let busy = false;

  function say(text) {
    message.textContent = text;
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (busy) return;
    if (!user.value.trim()) {
      say("Type your user name.");
      user.focus();
      return;
    }
    if (!password.value) {
      say("Type your password.");
      password.focus();
      return;
    }
    busy = true;
    say("Signing in…");
    try {
      const r = await fetch("/api/v1/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: user.value.trim(), password: password.value }),
      });
      let data = {};
      try {
        data = await r.json();
      } catch (_) {
        data = {};
      }
      if (r.ok) {
        say("");
        window.location.assign(data.home || "/station");
        return;
      }
      say(data.error || "Sign-in failed (" + r.status + ").");
      password.value = "";
      password.focus();
    } catch (_) {
      say("The server cannot be reached. Try again.");
    } finally {
      busy = false;
    }
  });

  // Enter in the user name goes on to the password.
  user.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !password.value) {
      ev.preventDefault();
      password.focus();
    }
  });
})();

// Staff passkeys (decision 0041): a form marked data-passkey="create" or "get" carries the
// server's WebAuthn options as JSON in data-options. On submit, the browser's WebAuthn API
// makes or uses a passkey; its answer goes back as JSON in the form's hidden "credential"
// field, with the form's CSRF token. No inline script: the pages keep script-src 'self'.
"use strict";
(function () {
  var forms = document.querySelectorAll("form[data-passkey]");
  var supported = window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

  function say(form, text) {
    var box = form.querySelector(".passkey-error");
    box.textContent = text;
    box.hidden = false;
  }

  forms.forEach(function (form) {
    if (!supported) {
      say(form, "This browser cannot use passkeys: use an up-to-date browser, or sign in with the e-mailed code.");
    }
    form.addEventListener("submit", function (event) {
      var field = form.querySelector("input[name=credential]");
      if (field.value) { return; }  // the answer is in: the form goes to the server
      event.preventDefault();
      if (!supported) { return; }
      if (!form.reportValidity()) { return; }
      var options = JSON.parse(form.dataset.options);
      var making = form.dataset.passkey === "create";
      var asked = making
        ? navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
        : navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
      asked.then(function (credential) {
        field.value = JSON.stringify(credential.toJSON());
        form.submit();
      }, function (error) {
        say(form, error && error.name === "InvalidStateError"
          ? "This device has a passkey for this console already."
          : "No passkey was given (cancelled, timed out or refused). Press the button to try again.");
      });
    });
  });
})();

// Passkeys on tessera's hosted pages. A button marked `data-passkey="create"`
// or `"get"` runs the WebAuthn ceremony when pressed, puts the
// authenticator's answer (as JSON) in its form's field named by
// `data-field`, and posts the form: the server only ever reads plain forms.
// The options come from the page (`data-options`) or, for a sign-in with a
// passkey alone, from `data-options-url` (whose `ceremony` goes in the
// form's field of that name). A button that means nothing without this
// script is `hidden` until the script knows the browser can do WebAuthn, so
// with JavaScript off the rest of the page still works.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function bytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      out[i] = binary.charCodeAt(i);
    }
    return out.buffer;
  }

  function base64url(buffer) {
    var binary = "";
    var view = new Uint8Array(buffer);
    for (var i = 0; i < view.length; i++) {
      binary += String.fromCharCode(view[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: bytes(c.id) });
    });
  }

  // webauthn-rs's JSON options, with their binary fields as ArrayBuffers.
  function publicKey(kind, options) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = bytes(key.challenge);
    if (kind === "create") {
      key.user = Object.assign({}, key.user, { id: bytes(key.user.id) });
      key.excludeCredentials = withIds(key.excludeCredentials);
    } else {
      key.allowCredentials = withIds(key.allowCredentials);
    }
    return key;
  }

  // What `PublicKeyCredential.toJSON()` gives, built by hand for browsers
  // without it.
  function answer(credential) {
    var r = credential.response;
    var response = { clientDataJSON: base64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = base64url(r.attestationObject);
    } else {
      response.authenticatorData = base64url(r.authenticatorData);
      response.signature = base64url(r.signature);
      if (r.userHandle) {
        response.userHandle = base64url(r.userHandle);
      }
    }
    return {
      id: credential.id,
      rawId: base64url(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  function options(button, form) {
    if (button.dataset.options) {
      return Promise.resolve(JSON.parse(button.dataset.options));
    }
    return fetch(button.dataset.optionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (reply) {
      if (!reply.ok) {
        throw new Error("options: " + reply.status);
      }
      return reply.json();
    }).then(function (body) {
      form.elements.namedItem("ceremony").value = body.ceremony;
      return body.options;
    });
  }

  function say(form, text) {
    var note = form.querySelector(".passkey-problem");
    if (note) {
      note.textContent = text;
      note.hidden = false;
    }
  }

  function ceremony(button, event) {
    var form = button.form;
    var kind = button.dataset.passkey;
    event.preventDefault();
    // Fields the passkey's form needs (a name) are asked for first.
    if (kind === "create" && !form.reportValidity()) {
      return;
    }
    button.disabled = true;
    options(button, form)
      .then(function (given) {
        var key = publicKey(kind, given);
        return kind === "create"
          ? navigator.credentials.create({ publicKey: key })
          : navigator.credentials.get({ publicKey: key });
      })
      .then(function (credential) {
        form.elements.namedItem(button.dataset.field).value = JSON.stringify(answer(credential));
        form.submit();
      })
      .catch(function () {
        say(form, "The passkey did not answer (cancelled, timed out, or not this site's). Try again.");
        button.disabled = false;
      });
  }

  document.querySelectorAll("button[data-passkey]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      ceremony(button, event);
    });
    button.hidden = false;
  });
})();

// The passkeys page: runs the WebAuthn ceremonies of /v1/auth/passkeys with
// navigator.credentials (add a passkey; pass the second factor with one). No libraries.
"use strict";

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(value) {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4);
  const text = atob(padded);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes.buffer;
}

function csrfToken() {
  const found = document.cookie.match(/(?:^|;\s*)aybiza_csrf=([^;]+)/);
  return found ? decodeURIComponent(found[1]) : "";
}

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ? data.error.message : response.statusText);
  return data;
}

function say(text) {
  document.getElementById("status").textContent = text;
}

function creationOptions(options) {
  return {
    ...options,
    challenge: fromBase64url(options.challenge),
    user: { ...options.user, id: fromBase64url(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
}

function requestOptions(options) {
  return {
    ...options,
    challenge: fromBase64url(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
}

function credentialJson(credential) {
  const answer = credential.response;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: toBase64url(answer.clientDataJSON) },
  };
  if (credential.authenticatorAttachment) json.authenticatorAttachment = credential.authenticatorAttachment;
  if (answer.attestationObject) {
    json.response.attestationObject = toBase64url(answer.attestationObject);
    json.response.transports = answer.getTransports ? answer.getTransports() : [];
  } else {
    json.response.authenticatorData = toBase64url(answer.authenticatorData);
    json.response.signature = toBase64url(answer.signature);
    if (answer.userHandle) json.response.userHandle = toBase64url(answer.userHandle);
  }
  return json;
}

async function showPasskeys() {
  const list = document.getElementById("passkeys");
  list.replaceChildren();
  try {
    for (const passkey of await api("/v1/auth/passkeys")) {
      const item = document.createElement("li");
      item.textContent = passkey.name;
      list.append(item);
    }
  } catch (error) {
    // Listing needs a complete session; a session that still owes its factor cannot list.
  }
}

async function showWho() {
  try {
    const me = await api("/v1/auth/me");
    document.getElementById("who").textContent =
      `Signed in as ${me.user.email} (${me.tenant.name}, ${me.tenant.role}); session: ${me.state}`;
  } catch (error) {
    document.getElementById("who").textContent = `Not signed in: ${error.message}`;
  }
}

async function addPasskey() {
  say("Waiting for your authenticator…");
  try {
    const options = await api("/v1/auth/passkeys/registration-options", {});
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    const name = document.getElementById("passkey-name").value;
    const saved = await api("/v1/auth/passkeys", { credential: credentialJson(credential), name });
    say(`Passkey added: ${saved.name}`);
  } catch (error) {
    say(`Passkey not added: ${error.message}`);
  }
  await showWho();
  await showPasskeys();
}

async function verifyPasskey() {
  say("Waiting for your authenticator…");
  try {
    const options = await api("/v1/auth/passkeys/authentication-options", {});
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    const me = await api("/v1/auth/passkeys/authentication", { credential: credentialJson(credential) });
    say(`Verified with a passkey: session ${me.state}`);
  } catch (error) {
    say(`Not verified: ${error.message}`);
  }
  await showWho();
  await showPasskeys();
}

document.addEventListener("DOMContentLoaded", () => {
  if (!window.PublicKeyCredential) say("This browser does not support passkeys.");
  document.getElementById("add-passkey").addEventListener("click", addPasskey);
  document.getElementById("verify-passkey").addEventListener("click", verifyPasskey);
  showWho();
  showPasskeys();
});

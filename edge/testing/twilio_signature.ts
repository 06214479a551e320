// Twilio's request signature (X-Twilio-Signature), the way Twilio computes it: HMAC-SHA1 of
// the URL it requested followed by each POST parameter's name and value, sorted by name,
// keyed with the account's auth token, in base64. WebCrypto, so it runs in Node and workerd.

export async function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string> = {},
): Promise<string> {
  const data = url + Object.keys(params).sort().map((name) => name + params[name]).join("");
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(authToken),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)));
  let binary = "";
  for (const byte of mac) binary += String.fromCharCode(byte);
  return btoa(binary);
}

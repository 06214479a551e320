// What the fake regions and the tests agree on (importable from workerd and from Node).

/** The router's public URL: the regions' AYBIZA_PUBLIC_URL, the URL Twilio signs. */
export const PUBLIC_URL = "https://voice.example.com";
export const AUTH_TOKEN = "twilio-test-auth-token";
export const EDGE_SECRET = "edge-test-secret";

// The socket's state for the UI (components read signals from app/, never from api/ directly).
export { connection, connectionDetail, type ConnectionState } from "../api/socket";

import { signal } from "@preact/signals";

/** The browser's own idea of being online (navigator.onLine, kept current). */
export const browserOnline = signal(navigator.onLine);
window.addEventListener("online", () => (browserOnline.value = true));
window.addEventListener("offline", () => (browserOnline.value = false));

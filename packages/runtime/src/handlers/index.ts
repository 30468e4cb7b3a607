/** Handler modules that ship with the runtime. */

/** A JS echo handler (`handler: JS_ECHO_HANDLER`), to compare with the native `'echo'`. */
export const JS_ECHO_HANDLER: URL = new URL('./echo.js', import.meta.url);

/**
 * noderl's version, as package.json and deno.json give it (a test checks
 * they agree). Internal.
 *
 * @module
 */

/** The package version. */
export const VERSION = "0.1.0";

/**
 * router (in progress).
 *
 * @module
 */
export {};

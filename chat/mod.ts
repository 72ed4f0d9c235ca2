/**
 * chat (in progress).
 *
 * @module
 */
export {};

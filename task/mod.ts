/**
 * task (in progress).
 *
 * @module
 */
export {};

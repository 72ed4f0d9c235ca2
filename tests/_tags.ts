/**
 * The project's tests use the public tagged-test helpers of
 * `noderl/testing` (testing/mod.ts); this file keeps the old import path.
 *
 * @module
 */
export * from "../testing/mod.ts";

/**
 * Named nodes, the registry, the Erlang distribution protocol, processes
 * and the External Term Format codec.
 *
 * @module
 */
export * from "./terms.ts";
export * from "./term_errors.ts";
export { decode, type DecodeOptions } from "./decode.ts";
export { encode, type EncodeOptions } from "./encode.ts";

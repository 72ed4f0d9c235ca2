/**
 * Publish/subscribe across a cluster, wire-compatible with Phoenix.PubSub
 * 2.x's `pg` adapter: noderl subscribers get an Elixir application's
 * broadcasts, and Elixir subscribers get noderl's.
 *
 * @module
 */
export {
  type BroadcastOptions,
  DEFAULT_DISPATCHER,
  type Dispatcher,
  type OnNode,
  PubSub,
  PUBSUB_SCOPE,
  type PubSubOptions,
} from "./pubsub.ts";

/**
 * A fixture for testing/tags_test.ts (not a test file of its own): four
 * trivial tests with different tags, filtered by `NODERL_TEST_TAGS`; with
 * `FIXTURE_REGISTRY_ADDRESS`, the registry probe listens there instead of
 * 127.0.0.1 (an address that is not this host's makes it fail).
 *
 * @module
 */
import process from "node:process";
import { excludeUnlessDistributed, test } from "../testing/mod.ts";

await excludeUnlessDistributed({
  address: process.env.FIXTURE_REGISTRY_ADDRESS,
});

test("plain", {}, () => {});
test("send_message", { tags: ["distributed"] }, () => {});
test("slow one", { tags: ["distributed", "type:slow"] }, () => {});
test("beam one", { tags: ["beam"] }, () => {});

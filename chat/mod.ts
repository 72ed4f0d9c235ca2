/**
 * The chat application of the seed: `sendMessage` / `receiveMessage` over
 * remote supervised tasks, the `moebi` node that answers every message
 * with `chicken?`, and an interactive chat node (`chat/main.ts`).
 *
 * @module
 */
export {
  CHAT_MODULE,
  CHAT_SUPERVISOR,
  isMoebi,
  receiveMessage,
  receiveMessageForMoebi,
  type RemoteSupervisor,
  remoteSupervisorDev,
  remoteSupervisorTest,
  sendMessage,
  startChat,
} from "./chat.ts";

/**
 * Supervisors and tasks, as Elixir's `Supervisor`, `Task` and
 * `Task.Supervisor` — local, remote, and compatible on the wire with Elixir
 * nodes — plus the application environment (`Application.getEnv`) with
 * per-environment configuration.
 *
 * @module
 */
export {
  setTaskBusyWait,
  type ShutdownMode,
  Task,
  type TaskOptions,
  type TaskResult,
} from "./task.ts";
export { MaxChildrenError } from "./errors.ts";
export {
  type AsyncOptions,
  type StartChildOptions,
  TaskSupervisor,
  type TaskSupervisorCallOptions,
  type TaskSupervisorOptions,
} from "./task_supervisor.ts";
export {
  type CallOptions,
  type ChildCounts,
  type ChildEntry,
  type ChildInfo,
  type ChildSpec,
  type ChildSpecSource,
  type NestedSupervisorOptions,
  type Restart,
  type Shutdown,
  type Strategy,
  Supervisor,
  type SupervisorOptions,
  type SupervisorRef,
  type WorkerOptions,
} from "./supervisor.ts";
export {
  type AppConfig,
  Application,
  type ApplicationSpec,
  type ConfigByEnvironment,
  type LoadConfigOptions,
} from "./application.ts";

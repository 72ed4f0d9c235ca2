# The Elixir side of tests/task_elixir_paths_test.ts: Task.Supervisor calls
# whose wire shapes changed in Elixir 1.15–1.18 (start_child with and
# without a restart, async_stream, supervisors with a default restart),
# and task bodies that report what the task process knows.

defmodule NoderlTaskPaths do
  # ---- Elixir → a (noderl) supervisor

  def start_child(sup, node, m, f, a, opts),
    do: Task.Supervisor.start_child({sup, node}, m, f, a, opts)

  def async_stream(sup, node, m, f, a, enum, opts) do
    {:ok, Task.Supervisor.async_stream({sup, node}, enum, m, f, a, opts) |> Enum.to_list()}
  catch
    :exit, reason -> {:exit, reason}
  end

  def async_stream_nolink(sup, node, m, f, a, enum, opts) do
    {:ok, Task.Supervisor.async_stream_nolink({sup, node}, enum, m, f, a, opts) |> Enum.to_list()}
  end

  # A task supervisor with a default restart (Task.Supervisor.start_link's
  # deprecated :restart option), not linked to the caller.
  def start_sup(name, restart) do
    {:ok, pid} = Task.Supervisor.start_link(name: name, restart: restart)
    Process.unlink(pid)
    {:ok, pid}
  end

  # ---- task bodies (run under an Elixir supervisor)

  # What the task process knows of its supervisor and its callers.
  def info, do: {Process.get(:"$ancestors"), Process.get(:"$callers")}

  def report(to) do
    send(to, {:task_info, self(), Process.get(:"$ancestors"), Process.get(:"$callers")})
    :ok
  end

  # Tells `to` each time it runs; its first run fails.
  def flaky(to, key) do
    n = :persistent_term.get({__MODULE__, key}, 0) + 1
    :persistent_term.put({__MODULE__, key}, n)
    send(to, {:ran, key, n})
    if n == 1, do: raise("first run of #{key} fails")
    :ok
  end
end

# The Elixir side of noderl's task tests and bench, loaded with
# Code.require_file by an `elixir --sname … -e` node (tests/_beam.ts).
# Chat is the seed's module; NoderlTasks runs Task.Supervisor calls for the
# tests (returning {:ok, result} or {:exit, reason} instead of crashing) and
# the bench workloads.

defmodule Chat do
  def receive_message(message) do
    IO.puts(message)
    {:received, message, node()}
  end

  def boom(message), do: raise(message)
  def slow(ms), do: (Process.sleep(ms); :slow_done)
  def echo(x), do: x
end

defmodule NoderlTasks do
  # Starts the seed's task supervisor (and a limited one) and keeps them
  # alive, unlinked from the caller.
  def start do
    {:ok, _} = Task.Supervisor.start_link(name: Chat.TaskSupervisor)
    {:ok, _} = Task.Supervisor.start_link(name: Chat.Limited, max_children: 1)
    :ok
  end

  # Task.Supervisor.async({sup, node}, m, f, a) |> Task.await(timeout), with
  # exits trapped so a crashing task is reported, not fatal.
  def async_await(sup, node, m, f, a, timeout \\ 5000) do
    Process.flag(:trap_exit, true)

    try do
      {:ok, Task.Supervisor.async({sup, node}, m, f, a) |> Task.await(timeout)}
    catch
      :exit, reason -> {:exit, reason}
    end
  end

  def async_nolink_yield(sup, node, m, f, a, timeout \\ 5000) do
    task = Task.Supervisor.async_nolink({sup, node}, m, f, a)
    Task.yield(task, timeout)
  end

  def start_child(sup, node, m, f, a) do
    Task.Supervisor.start_child({sup, node}, m, f, a)
  end

  def children(sup, node), do: Task.Supervisor.children({sup, node})

  def count_children(sup, node),
    do: Supervisor.count_children({sup, node})

  def terminate_child(sup, node, pid),
    do: Task.Supervisor.terminate_child({sup, node}, pid)

  def which_children(sup, node), do: Supervisor.which_children({sup, node})

  def supervisor_stop(sup, node), do: Supervisor.stop({sup, node})

  # The bench: n remote async + await, one at a time; tasks per second.
  def bench_seq(sup, node, n) do
    t0 = System.monotonic_time(:microsecond)

    for i <- 1..n do
      Task.Supervisor.async({sup, node}, Chat, :echo, [i]) |> Task.await()
    end

    n / ((System.monotonic_time(:microsecond) - t0) / 1_000_000)
  end

  # n remote async + await, `width` in flight at a time; tasks per second.
  def bench_flight(sup, node, n, width) do
    t0 = System.monotonic_time(:microsecond)

    for _ <- 1..div(n, width) do
      1..width
      |> Enum.map(fn i -> Task.Supervisor.async({sup, node}, Chat, :echo, [i]) end)
      |> Task.await_many(60_000)
    end

    n / ((System.monotonic_time(:microsecond) - t0) / 1_000_000)
  end
end

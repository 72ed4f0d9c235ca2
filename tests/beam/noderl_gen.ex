# The Elixir side of noderl's GenServer and Agent tests and bench, loaded with
# Code.require_file by an `elixir --sname … -e` node (tests/_beam.ts).
# NoderlGen runs GenServer, :sys and Agent calls for the tests (returning
# {:ok, result} or {:exit, reason} instead of crashing); NoderlGen.Counter is
# an Elixir GenServer for noderl to call; NoderlGen.Bag an Elixir agent.

defmodule NoderlGen.Counter do
  use GenServer

  def init(n), do: {:ok, n}

  def handle_call(:get, _from, n), do: {:reply, n, n}
  def handle_call(:inc, _from, n), do: {:reply, n + 1, n + 1}
  def handle_call({:echo, x}, _from, n), do: {:reply, x, n}
  def handle_call(:never, _from, n), do: {:noreply, n}
  def handle_call(:crash, _from, _n), do: raise("counter crashed on purpose")

  def handle_cast({:add, k}, n), do: {:noreply, n + k}
end

defmodule NoderlGen do
  # Starts the Elixir-side servers, unlinked from the caller.
  def start do
    {:ok, _} = GenServer.start(NoderlGen.Counter, 0, name: NoderlGen.Counter)
    {:ok, _} = Agent.start(fn -> [:a, :b] end, name: NoderlGen.Bag)
    {:ok, _} = GenServer.start(NoderlGen.Counter, 100, name: {:global, :noderl_gen_counter})
    :ok
  end

  defp catching(f) do
    try do
      {:ok, f.()}
    catch
      :exit, reason -> {:exit, reason}
      :error, reason -> {:error, reason}
    end
  end

  def call(server, request, timeout \\ 5000),
    do: catching(fn -> GenServer.call(server, request, timeout) end)

  def cast(server, request), do: GenServer.cast(server, request)

  def stop(server, reason \\ :normal),
    do: catching(fn -> GenServer.stop(server, reason) end)

  def get_state(server), do: catching(fn -> :sys.get_state(server) end)

  # A closure of this module: it runs on this node (its code lives here).
  def replace_state(server, tag),
    do: catching(fn -> :sys.replace_state(server, fn s -> [tag | s] end) end)

  def suspend(server), do: catching(fn -> :sys.suspend(server) end)
  def resume(server), do: catching(fn -> :sys.resume(server) end)
  def get_status(server), do: catching(fn -> :sys.get_status(server) end)

  # Suspends the server, casts to it and calls it (the call must wait),
  # resumes it: {state while suspended, call result after resume}.
  def suspended_call(server, request) do
    :ok = :sys.suspend(server)
    GenServer.cast(server, {:push_while_suspended})
    task = Task.async(fn -> GenServer.call(server, request, 5000) end)
    nil = Task.yield(task, 100)
    during = :sys.get_state(server)
    :ok = :sys.resume(server)
    {during, Task.await(task)}
  end

  # Agents: module/function/args, and a closure (which noderl refuses).
  def agent_get(agent, m, f, a), do: catching(fn -> Agent.get(agent, m, f, a) end)
  def agent_update(agent, m, f, a), do: catching(fn -> Agent.update(agent, m, f, a) end)

  def agent_get_and_update(agent, m, f, a),
    do: catching(fn -> Agent.get_and_update(agent, m, f, a) end)

  def agent_get_closure(agent), do: catching(fn -> Agent.get(agent, fn s -> s end) end)
  def agent_cast(agent, m, f, a), do: Agent.cast(agent, m, f, a)

  # Called by noderl's Agent calls on NoderlGen.Bag: the state comes first.
  def bag_size(bag), do: length(bag)
  def bag_add(bag, x), do: [x | bag]
  def bag_pop([h | t]), do: {h, t}

  # The bench: n calls one at a time; microseconds per call.
  def bench_calls(server, n) do
    for _ <- 1..div(n, 10), do: GenServer.call(server, {:echo, 1})
    t0 = System.monotonic_time(:nanosecond)
    bench_loop(server, n)
    (System.monotonic_time(:nanosecond) - t0) / n / 1000
  end

  defp bench_loop(_, 0), do: :ok

  defp bench_loop(server, n) do
    GenServer.call(server, {:echo, n})
    bench_loop(server, n - 1)
  end

  # A local Elixir GenServer called from this node: microseconds per call.
  def bench_local(n) do
    {:ok, pid} = GenServer.start(NoderlGen.Counter, 0)
    r = bench_calls(pid, n)
    GenServer.stop(pid)
    r
  end
end

# A PubSub for noderl's tests and bench, written for them from the wire
# protocol of Phoenix.PubSub 2.x's pg adapter (Phoenix.PubSub itself is not
# installed here): the pg scope `Phoenix.PubSub`; per PubSub `name` the
# adapter groups `Name.Adapter` (then `Name.Adapter_2` … `_N` for a pool),
# each with one server registered under the group's name and joined to the
# group; a broadcast sends `{:forward_to_local, topic, message, dispatcher}`
# to the group's members on other nodes, and the receiving server hands the
# message to its node's subscribers of the topic (a duplicate-key Registry
# named after the PubSub). Subscribers here are the processes below.
defmodule NoderlPubSub do
  @scope Phoenix.PubSub
  @dispatcher Phoenix.PubSub

  # Starts the scope, the registry and the adapter servers. Call it from a
  # process that lives as long as the node (the -e script's).
  def start(name, pool_size \\ 1) do
    case :pg.start(@scope) do
      {:ok, _} -> :ok
      {:error, {:already_started, _}} -> :ok
    end

    {:ok, _} = Registry.start_link(keys: :duplicate, name: name)
    groups = for i <- 1..pool_size, do: group(name, i)
    :persistent_term.put({__MODULE__, name}, List.to_tuple(groups))

    for g <- groups do
      pid = spawn(fn -> adapter_server(name) end)
      true = Process.register(pid, g)
      :ok = :pg.join(@scope, g, pid)
    end

    :ok
  end

  defp group(name, 1), do: Module.concat(name, Adapter)
  defp group(name, i), do: :"#{Module.concat(name, Adapter)}_#{i}"

  defp adapter_server(name) do
    receive do
      {:forward_to_local, topic, message, dispatcher} ->
        local_broadcast(name, :none, topic, message, dispatcher)

      _ ->
        :ok
    end

    adapter_server(name)
  end

  defp pick_group(name) do
    groups = :persistent_term.get({__MODULE__, name})
    elem(groups, :erlang.phash2(self(), tuple_size(groups)))
  end

  def subscribe(name, topic), do: Registry.register(name, topic, nil)

  def broadcast(name, topic, message, from \\ :none) do
    forward = {:forward_to_local, topic, message, @dispatcher}

    for pid <- :pg.get_members(@scope, pick_group(name)), node(pid) != node() do
      send(pid, forward)
    end

    local_broadcast(name, from, topic, message, @dispatcher)
  end

  def direct_broadcast(name, node_name, topic, message) do
    send({pick_group(name), node_name}, {:forward_to_local, topic, message, @dispatcher})
    :ok
  end

  # The default dispatcher: every subscriber but `from`.
  defp local_broadcast(name, from, topic, message, _dispatcher) do
    Registry.dispatch(name, topic, fn entries ->
      for {pid, _} <- entries, pid != from, do: send(pid, message)
    end)
  end

  # Members of the adapter group here (to wait for a noderl node's adapter).
  def adapters(name), do: :pg.get_members(@scope, group(name, 1))

  # A subscriber that keeps what it gets, in order; `{:get, from}` answers
  # `{:got, self(), messages}`.
  def start_collector(name, topic) do
    parent = self()

    pid =
      spawn(fn ->
        subscribe(name, topic)
        send(parent, {:subscribed, self()})
        collect([])
      end)

    receive do
      {:subscribed, ^pid} -> pid
    end
  end

  defp collect(acc) do
    receive do
      {:get, from} ->
        send(from, {:got, self(), Enum.reverse(acc)})
        collect(acc)

      m ->
        collect([m | acc])
    end
  end

  # What a collector got, once it has `n` messages (or after `ms`).
  def collected(pid, n, ms) do
    deadline = System.monotonic_time(:millisecond) + ms
    wait_collected(pid, n, deadline)
  end

  defp wait_collected(pid, n, deadline) do
    send(pid, {:get, self()})

    got =
      receive do
        {:got, ^pid, got} -> got
      end

    if length(got) >= n or System.monotonic_time(:millisecond) > deadline do
      got
    else
      Process.sleep(10)
      wait_collected(pid, n, deadline)
    end
  end

  # Broadcasts {:n, sender, i} for i in 1..n from one process.
  def broadcast_n(name, topic, n) do
    me = self()
    for i <- 1..n, do: broadcast(name, topic, {:n, me, i})
    :ok
  end

  # --- bench ---------------------------------------------------------------

  # `k` counting subscribers of `topic`; each answers `{:done, reply_to}`
  # with `{:ack, count}` and starts over.
  def start_counters(name, topic, k) do
    for _ <- 1..k, do: start_counter(name, topic)
  end

  defp start_counter(name, topic) do
    parent = self()

    pid =
      spawn(fn ->
        subscribe(name, topic)
        send(parent, {:subscribed, self()})
        count(0)
      end)

    receive do
      {:subscribed, ^pid} -> pid
    end
  end

  defp count(c) do
    receive do
      {:done, reply_to} ->
        send(reply_to, {:ack, c})
        count(0)

      _ ->
        count(c + 1)
    end
  end

  # Broadcasts `n` small messages then `{:done, self()}`; waits for `k`
  # acks; returns broadcasts per second (fails if a count is short).
  def bench(name, topic, n, k) do
    t0 = System.monotonic_time(:microsecond)
    for i <- 1..n, do: broadcast(name, topic, {:msg, i})
    broadcast(name, topic, {:done, self()})
    counts = for _ <- 1..k, do: (receive do {:ack, c} -> c after 60_000 -> :timeout end)
    t1 = System.monotonic_time(:microsecond)
    true = Enum.all?(counts, &(&1 == n))
    n * 1_000_000 / max(1, t1 - t0)
  end
end

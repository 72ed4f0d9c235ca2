defmodule KV.Registry do
  @moduledoc """
  Names buckets: `create/2` starts a bucket under KV.BucketSupervisor (or
  returns the one of that name), `lookup/2` finds it. A bucket that dies is
  forgotten (the registry monitors each one).
  """
  use GenServer

  def start_link(opts), do: GenServer.start_link(__MODULE__, :ok, opts)

  @doc "{:ok, pid} for a known bucket, else :error."
  def lookup(server, name), do: GenServer.call(server, {:lookup, name})

  @doc "The bucket's pid, started if there was none."
  def create(server, name), do: GenServer.call(server, {:create, name})

  @impl true
  def init(:ok), do: {:ok, {%{}, %{}}}

  @impl true
  def handle_call({:lookup, name}, _from, {names, _} = state) do
    {:reply, Map.fetch(names, name), state}
  end

  def handle_call({:create, name}, _from, {names, refs}) do
    case Map.fetch(names, name) do
      {:ok, pid} ->
        {:reply, pid, {names, refs}}

      :error ->
        {:ok, pid} = DynamicSupervisor.start_child(KV.BucketSupervisor, KV.Bucket)
        ref = Process.monitor(pid)
        {:reply, pid, {Map.put(names, name, pid), Map.put(refs, ref, name)}}
    end
  end

  @impl true
  def handle_info({:DOWN, ref, :process, _pid, _reason}, {names, refs}) do
    {name, refs} = Map.pop(refs, ref)
    {:noreply, {Map.delete(names, name), refs}}
  end
end

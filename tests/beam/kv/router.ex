defmodule KV.Router do
  @moduledoc """
  Sends a request to the node that owns the bucket, by the first byte of
  its name; that node routes again with its own table.
  """

  def route(bucket, mod, fun, args) do
    first = :binary.first(bucket)

    entry =
      Enum.find(table(), fn {range, _node} -> first in range end) ||
        no_entry_error(bucket)

    if elem(entry, 1) == node() do
      apply(mod, fun, args)
    else
      {KV.RouterTasks, elem(entry, 1)}
      |> Task.Supervisor.async(KV.Router, :route, [bucket, mod, fun, args])
      |> Task.await()
    end
  end

  defp no_entry_error(bucket) do
    raise "could not find entry for #{inspect(bucket)} in table #{inspect(table())}"
  end

  @doc "The routing table, from the :kv application's :routing_table."
  def table, do: Application.fetch_env!(:kv, :routing_table)
end

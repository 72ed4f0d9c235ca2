# The KV app of the Mix & OTP guide, written again for noderl's mixed-cluster
# test (tests/kv_mixed_test.ts) from the guide's description. One change:
# the server reads and writes a bucket on the bucket's own node, by
# module/function/args, as noderl's server does; the guide's server calls
# KV.Bucket (an Agent, so closures) from wherever it runs, which only works
# when every node runs the same Elixir code.

defmodule KV.Bucket do
  @moduledoc "A bucket: an Agent holding a map of keys to values."
  use Agent, restart: :temporary

  def start_link(_opts), do: Agent.start_link(fn -> %{} end)

  @doc "The value under `key`, or nil."
  def get(bucket, key), do: Agent.get(bucket, &Map.get(&1, key))

  @doc "Stores `value` under `key`."
  def put(bucket, key, value), do: Agent.update(bucket, &Map.put(&1, key, value))

  @doc "Removes `key`; returns the value it had, or nil."
  def delete(bucket, key), do: Agent.get_and_update(bucket, &Map.pop(&1, key))
end

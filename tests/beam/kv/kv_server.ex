defmodule KVServer do
  @moduledoc """
  The text protocol over TCP: one line per command, each client served by
  its own task under KVServer.TaskSupervisor.
  """
  require Logger

  @doc "Listens on `port` (0: any free one), prints it, accepts forever."
  def accept(port) do
    {:ok, socket} =
      :gen_tcp.listen(port, [:binary, packet: :line, active: false, reuseaddr: true, ip: {127, 0, 0, 1}])

    {:ok, port} = :inet.port(socket)
    IO.puts("kv server on port #{port}")
    loop_acceptor(socket)
  end

  defp loop_acceptor(socket) do
    {:ok, client} = :gen_tcp.accept(socket)
    {:ok, pid} = Task.Supervisor.start_child(KVServer.TaskSupervisor, fn -> serve(client) end)
    :ok = :gen_tcp.controlling_process(client, pid)
    loop_acceptor(socket)
  end

  defp serve(socket) do
    reply =
      with {:ok, line} <- :gen_tcp.recv(socket, 0),
           {:ok, command} <- KVServer.Command.parse(line),
           do: KVServer.Command.run(command)

    write_line(socket, reply)
    serve(socket)
  end

  defp write_line(socket, {:ok, text}), do: :gen_tcp.send(socket, text)
  defp write_line(socket, {:error, :unknown_command}), do: :gen_tcp.send(socket, "UNKNOWN COMMAND\r\n")
  defp write_line(socket, {:error, :not_found}), do: :gen_tcp.send(socket, "NOT FOUND\r\n")
  defp write_line(_socket, {:error, :closed}), do: exit(:shutdown)

  defp write_line(socket, {:error, error}) do
    :gen_tcp.send(socket, "ERROR\r\n")
    exit(error)
  end
end

defmodule KVServer.Command do
  @moduledoc "Parsing and running the four commands, routed by bucket."

  def parse(line) do
    case String.split(line) do
      ["CREATE", bucket] -> {:ok, {:create, bucket}}
      ["GET", bucket, key] -> {:ok, {:get, bucket, key}}
      ["PUT", bucket, key, value] -> {:ok, {:put, bucket, key, value}}
      ["DELETE", bucket, key] -> {:ok, {:delete, bucket, key}}
      _ -> {:error, :unknown_command}
    end
  end

  def run({:create, bucket}) do
    case KV.Router.route(bucket, KV.Registry, :create, [KV.Registry, bucket]) do
      pid when is_pid(pid) -> {:ok, "OK\r\n"}
      _ -> {:error, "FAILED TO CREATE BUCKET"}
    end
  end

  def run({:get, bucket, key}) do
    lookup(bucket, fn pid ->
      value = on_bucket(pid, :get, [key])
      {:ok, "#{value}\r\nOK\r\n"}
    end)
  end

  def run({:put, bucket, key, value}) do
    lookup(bucket, fn pid ->
      on_bucket(pid, :put, [key, value])
      {:ok, "OK\r\n"}
    end)
  end

  def run({:delete, bucket, key}) do
    lookup(bucket, fn pid ->
      on_bucket(pid, :delete, [key])
      {:ok, "OK\r\n"}
    end)
  end

  defp lookup(bucket, callback) do
    case KV.Router.route(bucket, KV.Registry, :lookup, [KV.Registry, bucket]) do
      {:ok, pid} -> callback.(pid)
      :error -> {:error, :not_found}
    end
  end

  # KV.Bucket on the node the bucket lives on: here directly, elsewhere by
  # module/function/args (a noderl bucket is no Agent).
  defp on_bucket(pid, fun, args) when node(pid) == node(), do: apply(KV.Bucket, fun, [pid | args])
  defp on_bucket(pid, fun, args), do: :erpc.call(node(pid), KV.Bucket, fun, [pid | args])
end

defmodule KV.Mixed do
  @moduledoc "Starts the KV tree and the server for the test."

  def start(table) do
    Application.put_env(:kv, :routing_table, table)

    children = [
      {KV.Supervisor, name: KV.Supervisor},
      {Task.Supervisor, name: KVServer.TaskSupervisor},
      Supervisor.child_spec({Task, fn -> KVServer.accept(0) end}, restart: :permanent)
    ]

    {:ok, _} = Supervisor.start_link(children, strategy: :one_for_one, name: KVServer.Supervisor)
    :ok
  end

  @doc "How `node`'s KV.Router.table() reads here."
  def table_of(node), do: inspect(:erpc.call(node, KV.Router, :table, []))

  @doc "Whether `node`'s table equals this node's (==), and routes as it does."
  def same_table?(node), do: :erpc.call(node, KV.Router, :table, []) == KV.Router.table()
end

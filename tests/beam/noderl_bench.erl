%% The BEAM side of `npm run bench`: the same workloads as noderl's
%% tests/bench_peer.ts, between two BEAM nodes.
-module(noderl_bench).
-export([throughput/3, sink/2, pingpong/2, echo/0, async_await/3]).

%% Sends N messages of about Size bytes to a sink on Peer; returns msgs/s.
throughput(Peer, N, Size) ->
    Self = self(),
    Sink = spawn(Peer, ?MODULE, sink, [N, Self]),
    Payload = payload(Size),
    T0 = erlang:monotonic_time(microsecond),
    send_n(Sink, Payload, N),
    receive {done, N} -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    N * 1000000 / max(1, T1 - T0).

payload(small) -> {msg, 1};
payload(Size) -> {msg, binary:copy(<<"x">>, Size)}.

send_n(_, _, 0) -> ok;
send_n(Pid, Msg, N) -> Pid ! Msg, send_n(Pid, Msg, N - 1).

sink(N, Reply) -> sink(N, N, Reply).
sink(0, N, Reply) -> Reply ! {done, N};
sink(K, N, Reply) -> receive _ -> sink(K - 1, N, Reply) end.

%% N sequential round trips to an echo process on Peer; returns microseconds per round trip.
pingpong(Peer, N) ->
    Echo = spawn(Peer, ?MODULE, echo, []),
    Echo ! {self(), warm}, receive _ -> ok end,
    T0 = erlang:monotonic_time(microsecond),
    ping_n(Echo, N),
    T1 = erlang:monotonic_time(microsecond),
    Echo ! stop,
    (T1 - T0) / N.

ping_n(_, 0) -> ok;
ping_n(Echo, N) -> Echo ! {self(), N}, receive {pong, N} -> ping_n(Echo, N - 1) end.

echo() ->
    receive
        {From, X} -> From ! {pong, X}, echo();
        stop -> ok
    end.

%% Remote Task.Supervisor-like async/await with plain erpc (for comparison).
async_await(Peer, N, InFlight) ->
    T0 = erlang:monotonic_time(microsecond),
    run_batches(Peer, N, InFlight),
    T1 = erlang:monotonic_time(microsecond),
    N * 1000000 / max(1, T1 - T0).

run_batches(_, 0, _) -> ok;
run_batches(Peer, N, InFlight) ->
    K = min(N, InFlight),
    Reqs = [erpc:send_request(Peer, erlang, node, []) || _ <- lists:seq(1, K)],
    [erpc:receive_response(R, 5000) || R <- Reqs],
    run_batches(Peer, N - K, InFlight).

%% The BEAM side of `npm run bench`: the same workloads as noderl's
%% tests/bench_peer.ts, between two BEAM nodes.
-module(noderl_bench).
-export([throughput/3, sink/2, pingpong/2, echo/0, async_await/3, epmd_compare/5]).

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

%% Registry lookups per second from a BEAM client (gen_tcp, a connection per
%% lookup, PORT_PLEASE2_REQ), against two registries in interleaved rounds.
%% Prints "A B": the mean lookups/s on PortA and on PortB.
epmd_compare(PortA, PortB, Rounds, Ms, Conc) ->
    {SumA, SumB} = lists:foldl(
        fun(R, {A, B}) ->
            case R rem 2 of
                0 -> RA = lookups(PortA, Ms, Conc), RB = lookups(PortB, Ms, Conc), {A + RA, B + RB};
                1 -> RB = lookups(PortB, Ms, Conc), RA = lookups(PortA, Ms, Conc), {A + RA, B + RB}
            end
        end, {0, 0}, lists:seq(1, Rounds)),
    io:format("~p ~p~n", [SumA / Rounds, SumB / Rounds]).

lookups(Port, Ms, Conc) ->
    Parent = self(),
    T0 = erlang:monotonic_time(microsecond),
    Deadline = T0 + Ms * 1000,
    Pids = [spawn_link(fun() -> Parent ! {count, self(), lookup_loop(Port, Deadline, W, Conc, 0)} end)
            || W <- lists:seq(1, Conc)],
    Total = lists:sum([receive {count, P, N} -> N end || P <- Pids]),
    T1 = erlang:monotonic_time(microsecond),
    Total * 1000000 / (T1 - T0).

lookup_loop(Port, Deadline, I, Step, N) ->
    case erlang:monotonic_time(microsecond) >= Deadline of
        true -> N;
        false ->
            Name = list_to_binary("bench" ++ integer_to_list(I rem 100)),
            {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
            ok = gen_tcp:send(S, <<(byte_size(Name) + 1):16, 122, Name/binary>>),
            <<119, 0, _/binary>> = recv_all(S, <<>>),
            gen_tcp:close(S),
            lookup_loop(Port, Deadline, I + Step, Step, N + 1)
    end.

recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 5000) of
        {ok, D} -> recv_all(S, <<Acc/binary, D/binary>>);
        {error, closed} -> Acc
    end.

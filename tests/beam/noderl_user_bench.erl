%% The BEAM side of the user-style bench (tests/bench_user.ts): the same work
%% as tests/_user_bench_peer.ts, written as an Erlang user writes it, with no
%% warm-up. The bench drives it over erpc from a noderl node; each function
%% called that way runs in a fresh process (the one erpc spawns).
-module(noderl_user_bench).
-export([start_echo/0, start_sink/0, roundtrip/3, oneway/3, spawn_idle/1]).

%% A registered process `echo`: {From, I} -> From ! {pong, I}.
start_echo() ->
    Pid = spawn(fun echo/0),
    register(echo, Pid),
    Pid.

echo() ->
    receive
        {From, I} -> From ! {pong, I}
    end,
    echo().

%% A registered process `sink`: on {count, From, N} it answers {sink, self()},
%% takes N messages, answers {done, N}, and waits for the next request.
start_sink() ->
    Pid = spawn(fun sink/0),
    register(sink, Pid),
    Pid.

sink() ->
    receive
        {count, From, N} ->
            From ! {sink, self()},
            count(N),
            From ! {done, N}
    end,
    sink().

count(0) -> ok;
count(K) -> receive _ -> count(K - 1) end.

%% N round trips to {echo, Node} from this (fresh) process, the first one
%% connecting to Node, timed by blocks of Block (N a multiple of it).
%% Returns [µs per round trip over all N, µs of the first one, µs per
%% round trip in each block].
roundtrip(Node, N, Block) when N rem Block =:= 0 ->
    Dest = {echo, Node},
    T0 = now_us(),
    ping(Dest, 0, 1),
    First = now_us() - T0,
    ping(Dest, 1, Block),
    T1 = now_us(),
    Marks = [T0, T1 | blocks(Dest, Block, N, Block)],
    Blocks = [(B - A) / Block || {A, B} <- lists:zip(lists:droplast(Marks), tl(Marks))],
    [(lists:last(Marks) - T0) / N, float(First) | Blocks].

blocks(_, I, N, _) when I >= N -> [];
blocks(Dest, I, N, Block) ->
    ping(Dest, I, I + Block),
    T = now_us(),
    [T | blocks(Dest, I + Block, N, Block)].

ping(_, I, I) -> ok;
ping(Dest, I, N) ->
    Dest ! {self(), I},
    receive {pong, I} -> ping(Dest, I + 1, N) end.

%% N messages ({msg, I}, or {msg, <<Size bytes>>}) to the sink on Node,
%% without ever yielding (the scheduler preempts the sender, and suspends it
%% while the connection is busy). Returns msgs/s, until the sink's answer.
oneway(Node, N, Size) ->
    {sink, Node} ! {count, self(), N},
    Sink = receive {sink, P} -> P end,
    T0 = now_us(),
    case Size of
        small -> send_small(Sink, 0, N);
        _ -> send_bin(Sink, {msg, binary:copy(<<"x">>, Size)}, N)
    end,
    receive {done, N} -> ok end,
    T1 = now_us(),
    N * 1000000 / max(1, T1 - T0).

send_small(_, N, N) -> ok;
send_small(Sink, I, N) -> Sink ! {msg, I}, send_small(Sink, I + 1, N).

send_bin(_, _, 0) -> ok;
send_bin(Sink, Msg, K) -> Sink ! Msg, send_bin(Sink, Msg, K - 1).

%% Spawns N idle processes (each waits in receive), ends them all and checks
%% they are gone. Returns [spawns/s until every one has run to its receive,
%% bytes of erlang:memory(processes) per idle process, spawns/s of the list
%% comprehension alone].
spawn_idle(N) ->
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    T0 = now_us(),
    Pids = [spawn(fun() -> receive _ -> ok end end) || _ <- lists:seq(1, N)],
    TLoop = now_us(),
    run_queues_empty(),
    T1 = now_us(),
    erlang:garbage_collect(),
    M1 = erlang:memory(processes),
    [P ! stop || P <- Pids],
    gone(Pids, erlang:monotonic_time(millisecond) + 30000),
    [N * 1000000 / max(1, T1 - T0), (M1 - M0) / N, N * 1000000 / max(1, TLoop - T0)].

run_queues_empty() ->
    case erlang:statistics(total_run_queue_lengths) of
        0 -> ok;
        _ -> erlang:yield(), run_queues_empty()
    end.

gone(Pids, Deadline) ->
    case [P || P <- Pids, is_process_alive(P)] of
        [] -> ok;
        Alive ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error({still_alive, length(Alive)});
                false -> timer:sleep(10), gone(Alive, Deadline)
            end
    end.

now_us() -> erlang:monotonic_time(microsecond).

%% The BEAM side of the hostile tests (tests/attack_interop_test.ts): the
%% same attacks as against noderl, for the reference behaviour.
-module(noderl_attack).
-export([big_ping/2, big_sink/1, big_echo_loop/0, watch_nodes/0, node_events/0, flood/2, flood_status/1, send_big/2,
         echo_big/0, big_checksum/1]).

%% A registered process that records nodeup/nodedown events.
watch_nodes() ->
    Parent = self(),
    Pid = spawn(fun() ->
        ok = net_kernel:monitor_nodes(true),
        Parent ! watching,
        watch_loop([])
    end),
    receive watching -> ok end,
    register(nodewatch, Pid),
    ok.

watch_loop(Events) ->
    receive
        {nodeup, N} -> watch_loop([{nodeup, N} | Events]);
        {nodedown, N} -> watch_loop([{nodedown, N} | Events]);
        {get, From} -> From ! {events, lists:reverse(Events)}, watch_loop(Events)
    end.

node_events() ->
    nodewatch ! {get, self()},
    receive {events, E} -> E after 5000 -> timeout end.

%% A process that sends {msg, <<Size bytes>>} to Dest without pause.
flood(Dest, Size) ->
    Bin = binary:copy(<<7>>, Size),
    spawn(fun() -> flood_loop(Dest, Bin, 0) end).

flood_loop(Dest, Bin, N) ->
    Dest ! {msg, Bin},
    flood_loop(Dest, Bin, N + 1).

%% {Status, TotalMemory} of a flooder.
flood_status(Pid) ->
    {status, S} = erlang:process_info(Pid, status),
    {S, erlang:memory(total)}.

%% Sends {big, <<Size bytes of 255>>} to Dest.
send_big(Dest, Size) ->
    Dest ! {big, binary:copy(<<255>>, Size)},
    ok.

%% A registered process `big_echo`: {From, Bin} -> From ! {size, byte_size(Bin), erlang:crc32(Bin)}.
echo_big() ->
    Pid = spawn(fun Loop() ->
        receive
            {From, Bin} when is_binary(Bin) ->
                From ! {size, byte_size(Bin), erlang:crc32(Bin)},
                Loop()
        end
    end),
    register(big_echo, Pid),
    ok.

big_checksum(Bin) -> erlang:crc32(Bin).

%% The bench's large-message figure: a Size-byte binary to a sink on Peer
%% while another process pings an echo there. Returns
%% [P50us, P99us, Pings, TotalMs, BlockedMs].
big_ping(Peer, Size) ->
    Me = self(),
    Sink = spawn(Peer, ?MODULE, big_sink, [Me]),
    Echo = spawn(Peer, ?MODULE, big_echo_loop, []),
    Pinger = spawn(fun() -> pinger(Echo, Me, []) end),
    timer:sleep(20),
    Big = binary:copy(<<255>>, Size),
    T0 = erlang:monotonic_time(microsecond),
    Sink ! {msg, Big},
    T1 = erlang:monotonic_time(microsecond),
    receive done -> ok end,
    T2 = erlang:monotonic_time(microsecond),
    Pinger ! {stop, T0},
    Times = receive {times, Ts} -> Ts end,
    Echo ! stop,
    Sorted = lists:sort(Times),
    N = length(Sorted),
    At = fun(Q) -> case N of 0 -> 0; _ -> lists:nth(min(N, trunc(N * Q) + 1), Sorted) end end,
    [At(0.5), At(0.99), N, (T2 - T0) / 1000, (T1 - T0) / 1000].

%% Pings until told to stop; keeps the times of pings sent after T0.
pinger(Echo, Me, Acc) ->
    T = erlang:monotonic_time(microsecond),
    Echo ! {self(), T},
    receive
        {stop, T0} -> Me ! {times, [D || {S, D} <- Acc, S >= T0]};
        {_, T} ->
            pinger(Echo, Me, [{T, erlang:monotonic_time(microsecond) - T} | Acc])
    end.

big_sink(Reply) ->
    receive {msg, _} -> Reply ! done end.

big_echo_loop() ->
    receive
        stop -> ok;
        {From, N} -> From ! {self(), N}, big_echo_loop()
    end.

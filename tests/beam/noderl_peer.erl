%% The BEAM side of noderl's interop tests. Started with
%% `erl -sname X -eval 'noderl_peer:ready()'`; a test drives it over rpc.
-module(noderl_peer).
-export([ready/0, start_echo/0, echo_loop/0, wait_hi/0, say_name/0,
         ping/1, send_and_wait/3, echo_all/4, link_wait/1, monitor_wait/1,
         format_to/2, gen_call/3, call_ts/4, spawn_link_ts/4, sleep/1,
         spawn_here/4, watch_nodes/0, sink_start/1, sink_result/1, keeper/0,
         first_tags/2]).

%% Prints "ready" once the node is up, then idles.
ready() ->
    io:format("ready ~s~n", [node()]).

%% A registered process `echo`: {From, Msg} -> From ! {echo, Msg}.
start_echo() ->
    Pid = spawn(?MODULE, echo_loop, []),
    register(echo, Pid),
    Pid.

echo_loop() ->
    receive
        {From, Msg} when is_pid(From) -> From ! {echo, Msg};
        _ -> ok
    end,
    echo_loop().

%% The seed's exchange: {hi, Pid} -> Pid ! 'sup?'.
wait_hi() ->
    receive {hi, Pid} -> Pid ! 'sup?' end.

say_name() ->
    io:format("Hi, my name is ~s~n", ["Kate"]).

ping(Node) -> net_adm:ping(Node).

%% Sends Msg to Dest, waits up to 5 s for any reply.
send_and_wait(Dest, Msg, Timeout) ->
    Dest ! Msg,
    receive R -> R after Timeout -> timeout end.

%% Calls Mod:Fun(T) on Node for each term; returns {ok, N} or the first mismatch.
echo_all(Node, Mod, Fun, Terms) ->
    echo_all(Node, Mod, Fun, Terms, 0).
echo_all(_Node, _Mod, _Fun, [], N) -> {ok, N};
echo_all(Node, Mod, Fun, [T | Ts], N) ->
    case rpc:call(Node, Mod, Fun, [T]) of
        R when R =:= T -> echo_all(Node, Mod, Fun, Ts, N + 1);
        R -> {mismatch, N, T, R}
    end.

%% Links to Pid (a TS process) and waits for its EXIT; reports to the caller.
link_wait(Pid) ->
    process_flag(trap_exit, true),
    link(Pid),
    receive {'EXIT', Pid, Reason} -> {exit, Reason} after 10000 -> timeout end.

monitor_wait(Target) ->
    Ref = erlang:monitor(process, Target),
    receive {'DOWN', Ref, process, Obj, Reason} -> {down, Obj, Reason} after 10000 -> timeout end.

%% Formats through io:format with the given group leader (a TS io server).
format_to(GL, Args) ->
    group_leader(GL, self()),
    io:format("~s and ~p and ~w~n", Args).

gen_call(Dest, Req, Timeout) ->
    try gen_server:call(Dest, Req, Timeout) of R -> {ok, R}
    catch C:E -> {C, E} end.

call_ts(Node, M, F, A) ->
    try erpc:call(Node, M, F, A, 5000) of R -> {ok, R}
    catch C:E -> {C, E} end.

spawn_link_ts(Node, M, F, A) ->
    process_flag(trap_exit, true),
    Pid = spawn_link(Node, M, F, A),
    receive {'EXIT', Pid, Reason} -> {exit, Reason} after 5000 -> timeout end.

sleep(Ms) -> timer:sleep(Ms).

%% Spawns M:F(A) on Node with this node's own terminal as the group leader.
spawn_here(Node, M, F, A) ->
    group_leader(whereis(user), self()),
    spawn(Node, M, F, A).

%% Prints "nodeup N T" / "nodedown N T" (T: OS time in ms) for every node.
watch_nodes() ->
    spawn(fun() ->
        ok = net_kernel:monitor_nodes(true),
        watch_loop()
    end),
    ok.
watch_loop() ->
    receive {E, N} ->
        io:format("~s ~s ~b~n", [E, N, os:system_time(millisecond)])
    end,
    watch_loop().

%% A process registered as Name collecting {seq, N} messages in order.
sink_start(Name) ->
    Pid = spawn(fun() -> sink_loop([]) end),
    register(Name, Pid),
    ok.
sink_loop(Acc) ->
    receive
        {seq, N} -> sink_loop([N | Acc]);
        {result, From} -> From ! {sink, lists:reverse(Acc)}, sink_loop(Acc)
    end.
sink_result(Name) ->
    Name ! {result, self()},
    receive {sink, L} -> L after 5000 -> timeout end.

%% A process that waits forever (a pid to monitor).
keeper() -> spawn(fun() -> receive stop -> ok end end).

%% Takes N messages (tuples) and sends {tags, [Tag]} of them, in the order
%% they arrived, to Parent.
first_tags(Parent, N) ->
    Parent ! {tags, [element(1, receive M -> M end) || _ <- lists:seq(1, N)]}.

%% The BEAM side of tests/soak_mixed.ts (a chaos/soak script, not a unit
%% test). tests/_soak_peer.ts defines the same functions on noderl nodes:
%% the controller calls `noderl_soak:Op(...)` on a source node, which does
%% the operation towards a target node and answers `ok` or `{fail, Text}`.
-module(noderl_soak).
-behaviour(gen_server).
-export([setup/0, echo/1, raise/2, seq/5, rpc/2, multicall/2, link/3,
         victim/2, global/2, gwhere/1, greg_other/1, pg/2, pg_members/1,
         gen/3, watch/1, watch_result/1, node_events/0, stats/0,
         connect/1, peers/0, hold/1, disconnect/1,
         conflict_reg/1, alive/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(T, 5000).

%% Starts the standing processes: soak_echo, soak_gs, soak_mon and pg.
setup() ->
    case whereis(soak_echo) of
        undefined ->
            register(soak_echo, spawn(fun() -> echo_loop(#{}) end));
        _ -> ok
    end,
    case whereis(soak_gs) of
        undefined -> {ok, _} = gen_server:start({local, soak_gs}, ?MODULE, [], []);
        _ -> ok
    end,
    case whereis(soak_mon) of
        undefined ->
            Self = self(),
            register(soak_mon, spawn(fun() ->
                ok = net_kernel:monitor_nodes(true),
                Self ! mon_ready,
                mon_loop(#{})
            end)),
            receive mon_ready -> ok end;
        _ -> ok
    end,
    case whereis(pg) of
        undefined -> {ok, _} = pg:start(pg);
        _ -> ok
    end,
    ok.

echo(X) -> X.

raise(exit, X) -> exit(X);
raise(error, X) -> error(X).

fail(Fmt, Args) -> {fail, iolist_to_binary(io_lib:format(Fmt, Args))}.

%% ------------------------------------------------------------------ sends

echo_loop(S) ->
    receive
        {hello, From} ->
            From ! {hello_ack, self()},
            echo_loop(S);
        {seq, From, I, _Payload} ->
            {Last, Errs} = maps:get(From, S, {0, []}),
            Errs1 = case I =:= Last + 1 of
                        true -> Errs;
                        false -> [{expected, Last + 1, got, I} | Errs]
                    end,
            From ! {ack, I},
            echo_loop(S#{From => {I, Errs1}});
        {done, From, N} ->
            {Last, Errs} = maps:get(From, S, {0, []}),
            From ! {done_ack, N, Last, lists:reverse(Errs)},
            echo_loop(maps:remove(From, S));
        _ ->
            echo_loop(S)
    end.

%% N messages to soak_echo on Target, by pid or by {Name, Node} as Mask's
%% bits say, every Big-th with BigSize bytes (fragments); every ack must
%% come back once, in order.
seq(Target, N, Mask, Big, BigSize) ->
    Payload = binary:copy(<<"p">>, BigSize),
    {soak_echo, Target} ! {hello, self()},
    receive
        {hello_ack, Echo} ->
            [begin
                 P = case Big > 0 andalso I rem Big =:= 0 of
                         true -> Payload;
                         false -> <<>>
                     end,
                 case (Mask bsr (I rem 16)) band 1 of
                     1 -> Echo ! {seq, self(), I, P};
                     0 -> {soak_echo, Target} ! {seq, self(), I, P}
                 end
             end || I <- lists:seq(1, N)],
            R = acks(1, N),
            Echo ! {done, self(), N},
            receive
                {done_ack, N, Last, Errs} when R =:= ok, Last =:= N, Errs =:= [] ->
                    receive {ack, J} -> fail("extra ack ~p after ~p", [J, N])
                    after 50 -> ok end;
                {done_ack, N, Last, Errs} when R =:= ok ->
                    fail("echo on ~p saw last ~p of ~p, errors ~p", [Target, Last, N, Errs]);
                {done_ack, _, _, _} -> R
            after ?T -> fail("no done_ack from ~p", [Target])
            end
    after ?T -> fail("no hello_ack from ~p", [Target])
    end.

acks(I, N) when I > N -> ok;
acks(I, N) ->
    receive
        {ack, I} -> acks(I + 1, N);
        {ack, J} -> fail("ack ~p where ~p was expected", [J, I])
    after ?T -> fail("ack ~p of ~p never came", [I, N])
    end.

%% ------------------------------------------------------------------ rpc

rpc(Target, X) ->
    checks([
        {node, fun() -> rpc:call(Target, erlang, node, []) end, Target},
        {erpc_node, fun() -> erpc:call(Target, erlang, node, [], ?T) end, Target},
        {self, fun() ->
             P = erpc:call(Target, erlang, self, [], ?T),
             is_pid(P) andalso node(P) end, Target},
        {echo, fun() -> rpc:call(Target, noderl_soak, echo, [X], ?T) end, X},
        {erpc_echo, fun() -> erpc:call(Target, noderl_soak, echo, [X], ?T) end, X},
        {raise_exit, fun() ->
             try erpc:call(Target, noderl_soak, raise, [exit, X], ?T)
             catch exit:{exception, X} -> caught end end, caught},
        {raise_error, fun() ->
             try erpc:call(Target, noderl_soak, raise, [error, X], ?T)
             catch error:{exception, _, _} -> caught end end, caught},
        {undef, fun() ->
             try erpc:call(Target, noderl_soak, nope, [X], ?T)
             catch error:{exception, undef, _} -> caught end end, caught},
        {badrpc, fun() ->
             case rpc:call(Target, noderl_soak, raise, [exit, X], ?T) of
                 {badrpc, {'EXIT', X}} -> caught;
                 Other -> Other
             end end, caught}
    ]).

checks([]) -> ok;
checks([{What, F, Want} | Rest]) ->
    case catch F() of
        Want -> checks(Rest);
        Got -> fail("~p: wanted ~P, got ~P", [What, Want, 12, Got, 12])
    end.

multicall(Targets, X) ->
    Rs = erpc:multicall(Targets, noderl_soak, echo, [X], ?T),
    case [{T, R} || {T, R} <- lists:zip(Targets, Rs), R =/= {ok, X}] of
        [] ->
            case rpc:multicall(Targets, erlang, node, [], ?T) of
                {Targets, []} -> ok;
                Other -> fail("rpc:multicall node: ~p", [Other])
            end;
        Bad -> fail("erpc:multicall echo: ~P", [Bad, 12])
    end.

%% ------------------------------------------------------------------ links, monitors

victim(Parent, Name) ->
    case Name of
        undefined -> ok;
        _ -> register(Name, self())
    end,
    Parent ! {victim_ready, self()},
    receive {die, R} -> exit(R)
    after 30000 -> exit(victim_timeout)
    end.

%% How: 0 normal, 1 custom, 2 kill, 3 exit signal with a custom reason,
%% 4 monitor by {Name, Node} and a custom exit.
link(Target, How, Tag) ->
    process_flag(trap_exit, true),
    Name = case How of
               4 -> list_to_atom("soak_victim_" ++ integer_to_list(Tag));
               _ -> undefined
           end,
    Pid = spawn_link(Target, noderl_soak, victim, [self(), Name]),
    receive
        {victim_ready, Pid} ->
            Ref = case How of
                      4 -> erlang:monitor(process, {Name, Target});
                      _ -> erlang:monitor(process, Pid)
                  end,
            Custom = {custom, Tag, <<"bin">>, 1.0, [a | b]},
            Want = case How of
                       0 -> Pid ! {die, normal}, normal;
                       1 -> Pid ! {die, Custom}, Custom;
                       2 -> exit(Pid, kill), killed;
                       3 -> exit(Pid, {shutdown, Custom}), {shutdown, Custom};
                       4 -> Pid ! {die, Custom}, Custom
                   end,
            Obj = case How of 4 -> {Name, Target}; _ -> Pid end,
            R = receive
                    {'EXIT', Pid, Want} ->
                        receive
                            {'DOWN', Ref, process, Obj, Want} -> ok;
                            {'DOWN', Ref, process, O2, R2} ->
                                fail("DOWN ~p ~P, wanted ~p ~P", [O2, R2, 9, Obj, Want, 9])
                        after ?T -> fail("no DOWN (how ~p)", [How])
                        end;
                    {'EXIT', Pid, R1} -> fail("EXIT ~P, wanted ~P", [R1, 9, Want, 9])
                after ?T -> fail("no EXIT (how ~p)", [How])
                end,
            case R of
                ok ->
                    receive
                        {'EXIT', Pid, D} -> fail("second EXIT ~p", [D]);
                        {'DOWN', Ref, _, _, D} -> fail("second DOWN ~p", [D])
                    after 100 -> ok
                    end;
                _ -> R
            end;
        {'EXIT', Pid, R0} -> fail("victim on ~p died at once: ~p", [Target, R0])
    after ?T -> fail("victim on ~p never ready", [Target])
    end.

%% ------------------------------------------------------------------ global, pg

holder() -> spawn(fun() -> receive stop -> ok after 20000 -> ok end end).

global(Target, Tag) ->
    Name = {soak, node(), Tag},
    H = holder(),
    case global:register_name(Name, H) of
        yes ->
            R = checks([
                {where, fun() -> poll(fun() -> erpc:call(Target, noderl_soak, gwhere, [Name], ?T) end,
                                      H, 30, {not_seen_on, Target}) end, ok},
                {conflict, fun() -> erpc:call(Target, noderl_soak, greg_other, [Name], ?T) end, no}
            ]),
            case R of
                ok when Tag rem 2 =:= 0 ->
                    global:unregister_name(Name),
                    H ! stop,
                    checks([{gone, fun() -> erpc:call(Target, noderl_soak, gwhere, [Name], ?T) end,
                             undefined}]);
                ok ->
                    exit(H, kill),
                    poll(fun() -> erpc:call(Target, noderl_soak, gwhere, [Name], ?T) end,
                         undefined, 40, {holder_killed_name_stays, Name});
                _ ->
                    global:unregister_name(Name),
                    R
            end;
        no -> fail("register_name ~p: no", [Name])
    end.

poll(F, Want, 0, What) ->
    fail("~p: still ~P, wanted ~P", [What, catch F(), 9, Want, 9]);
poll(F, Want, K, What) ->
    case catch F() of
        Want -> ok;
        _ -> timer:sleep(100), poll(F, Want, K - 1, What)
    end.

gwhere(Name) -> global:whereis_name(Name).

greg_other(Name) ->
    H = holder(),
    R = global:register_name(Name, H),
    exit(H, kill),
    R.

pg(Target, Tag) ->
    Group = {soak, node(), Tag},
    M = holder(),
    ok = pg:join(Group, M),
    case poll(fun() -> erpc:call(Target, noderl_soak, pg_members, [Group], ?T) end,
              [M], 40, {pg_join, Group}) of
        ok ->
            case Tag rem 2 of
                0 -> ok = pg:leave(Group, M), M ! stop;
                1 -> exit(M, kill)
            end,
            poll(fun() -> erpc:call(Target, noderl_soak, pg_members, [Group], ?T) end,
                 [], 40, {pg_leave, Group});
        R -> exit(M, kill), R
    end.

pg_members(Group) -> pg:get_members(Group).

%% ------------------------------------------------------------------ gen_server

init([]) -> {ok, #{}}.
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, slept, S}.
handle_cast(_, S) -> {noreply, S}.
handle_info(_, S) -> {noreply, S}.

%% How: 0 echo, 1 a call that times out (and no late reply may arrive),
%% 2 a call to a name nobody holds.
gen(Target, How, X) ->
    case How of
        0 ->
            checks([{echo, fun() -> gen_server:call({soak_gs, Target}, {echo, X}, ?T) end, X}]);
        1 ->
            R = (catch gen_server:call({soak_gs, Target}, {sleep, 300}, 100)),
            case R of
                {'EXIT', {timeout, _}} ->
                    timer:sleep(500),
                    receive Late -> fail("late message after timeout: ~P", [Late, 9])
                    after 0 -> ok
                    end;
                _ -> fail("sleep call: ~P", [R, 9])
            end;
        2 ->
            case catch gen_server:call({soak_nope, Target}, x, 1000) of
                {'EXIT', {noproc, _}} -> ok;
                R -> fail("call to nobody: ~P", [R, 9])
            end
    end.

%% ------------------------------------------------------------------ node deaths

%% A watcher linked to and monitoring a process on Victim, and monitoring
%% Victim itself; returns the watcher's pid (see watch_result/1).
watch(Victim) ->
    Self = self(),
    W = spawn(fun() ->
        process_flag(trap_exit, true),
        P = spawn_link(Victim, noderl_soak, victim, [self(), undefined]),
        receive {victim_ready, P} -> ok after ?T -> ok end,
        Ref = erlang:monitor(process, P),
        RefN = erlang:monitor(process, {soak_echo, Victim}),
        monitor_node(Victim, true),
        Self ! {watching, self()},
        watch_loop(P, Ref, RefN, Victim, [])
    end),
    receive {watching, W} -> W after ?T -> fail("watch ~p: not ready", [Victim]) end.

watch_loop(P, Ref, RefN, Victim, Evs) ->
    W = fun(E) -> watch_loop(P, Ref, RefN, Victim, [E | Evs]) end,
    receive
        {'EXIT', P, R} -> W({exit, R});
        {'DOWN', Ref, process, P, R} -> W({down, R});
        {'DOWN', RefN, process, {soak_echo, Victim}, R} -> W({down_name, R});
        {nodedown, Victim} -> W(nodedown);
        {result, From} -> From ! {events, self(), lists:sort(Evs)};
        Other -> W({other, Other})
    after 60000 -> ok
    end.

%% On the node about to be killed: a process with a global name and in a
%% pg group, both of which every other node must drop when this node dies.
hold(Tag) ->
    Self = self(),
    H = spawn(fun() ->
        yes = global:register_name({soak_held, node(), Tag}, self()),
        ok = pg:join({soak_held, node(), Tag}, self()),
        Self ! {held, self()},
        receive stop -> ok end
    end),
    receive {held, H} -> H after ?T -> fail("hold: not ready", []) end.

watch_result(W) ->
    W ! {result, self()},
    receive {events, W, Evs} -> Evs after 2000 -> gone end.

mon_loop(S) ->
    receive
        {nodeup, N} -> mon_loop(bump(N, 1, S));
        {nodedown, N} -> mon_loop(bump(N, 2, S));
        {get, From} -> From ! {events, [{N, U, D} || {N, {U, D}} <- maps:to_list(S)]},
                       mon_loop(S);
        _ -> mon_loop(S)
    end.

bump(N, I, S) ->
    T = maps:get(N, S, {0, 0}),
    S#{N => setelement(I, T, element(I, T) + 1)}.

node_events() ->
    soak_mon ! {get, self()},
    receive {events, E} -> E after ?T -> timeout end.

stats() ->
    [erlang:system_info(process_count), erlang:memory(total)].

connect(Node) -> net_kernel:connect_node(Node).

disconnect(Node) -> erlang:disconnect_node(Node).

%% Registers Name (in a partition) for a fresh holder: its pid, or no.
conflict_reg(Name) ->
    H = spawn(fun() -> receive stop -> ok after 60000 -> ok end end),
    case global:register_name(Name, H) of
        yes -> H;
        no -> exit(H, kill), no
    end.

alive(Pid) -> is_process_alive(Pid).

peers() -> lists:sort(erlang:nodes()).

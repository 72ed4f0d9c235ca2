%% The BEAM side of noderl's global and pg interop tests: small functions a
%% test calls over rpc on BEAM nodes of a mixed cluster.
-module(noderl_global).
-export([sync_ms/0, trans/1, set_del_lock/1, register/1, register_echo/1,
         whereis/1, names/0, kill/1, wait_gone/2, wait_name/2, global_send/2,
         connect/1, disconnect/1, node_list/0, echo/0, idle/0, call_name/3,
         pg_start/1, pg_join/3, pg_join_new/3, pg_members/2, pg_local/2,
         pg_groups/1, pg_wait_members/4, pg_monitor_scope/1,
         gns_send/2, info/0, pg_discover_probe/2, pg_monitor_get/1]).

%% Milliseconds global:sync() takes on this node.
sync_ms() ->
    T0 = erlang:monotonic_time(microsecond),
    ok = global:sync(),
    (erlang:monotonic_time(microsecond) - T0) / 1000.

%% global:trans over the default node list ([node() | nodes()]).
trans(Res) ->
    global:trans({Res, self()}, fun() -> {done, node(), lists:sort(nodes())} end).

%% set_lock then del_lock over the default node list.
set_del_lock(Res) ->
    Id = {Res, self()},
    Set = global:set_lock(Id),
    true = global:del_lock(Id),
    Set.

idle() ->
    receive stop -> ok end.

echo() ->
    receive
        {From, X} when is_pid(From) -> From ! {echo, node(), X}, echo();
        stop -> ok;
        _ -> echo()
    end.

%% Registers a new idle process under Name; returns {yes | no, Pid}.
register(Name) ->
    Pid = spawn(?MODULE, idle, []),
    {global:register_name(Name, Pid), Pid}.

register_echo(Name) ->
    Pid = spawn(?MODULE, echo, []),
    {global:register_name(Name, Pid), Pid}.

whereis(Name) -> global:whereis_name(Name).

names() -> lists:sort(global:registered_names()).

kill(Name) ->
    case global:whereis_name(Name) of
        undefined -> undefined;
        Pid -> exit(Pid, kill), Pid
    end.

%% Waits up to Ms for Name to be unregistered here.
wait_gone(Name, Ms) when Ms =< 0 ->
    {still, global:whereis_name(Name)};
wait_gone(Name, Ms) ->
    case global:whereis_name(Name) of
        undefined -> gone;
        _ -> timer:sleep(20), wait_gone(Name, Ms - 20)
    end.

%% Waits up to Ms for Name to be registered here; returns its pid.
wait_name(Name, Ms) when Ms =< 0 ->
    global:whereis_name(Name);
wait_name(Name, Ms) ->
    case global:whereis_name(Name) of
        undefined -> timer:sleep(20), wait_name(Name, Ms - 20);
        Pid -> Pid
    end.

%% global:send, then waits for an echo.
global_send(Name, X) ->
    global:send(Name, {self(), X}),
    receive {echo, Node, X} -> {echo, Node, X} after 5000 -> timeout end.

%% gen_server:call({global, Name}, …) as GenServer.call({:global, name}, …).
call_name(Name, Req, Timeout) ->
    catch gen_server:call({global, Name}, Req, Timeout).

connect(Node) -> net_kernel:connect_node(Node).
disconnect(Node) -> erlang:disconnect_node(Node).
node_list() -> lists:sort(erlang:nodes()).

%% Sends a raw term to global_name_server on Node.
gns_send(Node, Term) ->
    {global_name_server, Node} ! Term,
    ok.

info() ->
    {state, _Conf, Known, Synced, Resolvers, Syncers, _Name, _L, _R, _T, _D} =
        sys:get_state(global_name_server),
    #{known => Known, synced => lists:sort(Synced), resolvers => Resolvers,
      syncers => Syncers}.

%% pg: start a scope (unlinked, so it outlives the rpc).
pg_start(Scope) ->
    case pg:start(Scope) of
        {ok, Pid} -> Pid;
        {error, {already_started, Pid}} -> Pid
    end.

%% Joins N new idle processes to Group; returns their pids.
pg_join_new(Scope, Group, N) ->
    Pids = [spawn(?MODULE, idle, []) || _ <- lists:seq(1, N)],
    ok = pg:join(Scope, Group, Pids),
    Pids.

pg_join(Scope, Group, Pids) -> pg:join(Scope, Group, Pids).
pg_members(Scope, Group) -> lists:sort(pg:get_members(Scope, Group)).
pg_local(Scope, Group) -> lists:sort(pg:get_local_members(Scope, Group)).
pg_groups(Scope) -> lists:sort(pg:which_groups(Scope)).

%% Waits up to Ms until Group has N members here; returns them sorted.
pg_wait_members(Scope, Group, N, Ms) ->
    M = lists:sort(pg:get_members(Scope, Group)),
    case length(M) =:= N orelse Ms =< 0 of
        true -> M;
        false -> timer:sleep(20), pg_wait_members(Scope, Group, N, Ms - 20)
    end.

%% Subscribes a new process to the scope; it keeps the notifications, and
%% answers {Pid, get} with them.
pg_monitor_scope(Scope) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        {Ref, _} = pg:monitor_scope(Scope),
                        Parent ! {self(), ready},
                        monitor_loop(Ref, [])
                end),
    receive {Pid, ready} -> Pid end.

monitor_loop(Ref, Acc) ->
    receive
        {Ref, Verb, Group, Pids} -> monitor_loop(Ref, [{Verb, Group, lists:sort(Pids)} | Acc]);
        {From, get} -> From ! {self(), lists:reverse(Acc)}, monitor_loop(Ref, Acc)
    end.

%% Acts as a pg scope of another node: sends {discover, Self} (Form 2) or
%% {discover, Self, 1} (Form 3) to the pg scope on Node, returns
%% {ok, SyncCast, Discover} with the two messages that come back.
pg_discover_probe(Node, Form) ->
    Msg = case Form of 2 -> {discover, self()}; 3 -> {discover, self(), 1} end,
    {pg, Node} ! Msg,
    receive
        {'$gen_cast', {sync, _, _}} = Sync ->
            receive
                {discover, _} = D -> {ok, Sync, D}
            after 5000 -> {no_discover, Sync}
            end
    after 5000 -> no_sync
    end.

%% What a pg_monitor_scope process has noted so far.
pg_monitor_get(Watcher) ->
    Watcher ! {self(), get},
    receive {Watcher, L} -> L after 5000 -> timeout end.

%% The BEAM side of noderl's introspection test: the shapes of the
%% introspection BIFs asked of a node over rpc, beside the same BIFs asked
%% of this BEAM node, so the test compares noderl with the BEAM.
-module(noderl_introspect).
-export([shapes/1]).

%% {Shape of Node over rpc, shape of this node over rpc}.
shapes(Node) -> {shape(Node), shape(node())}.

shape(N) ->
    C = fun(M, F, A) -> rpc:call(N, M, F, A) end,
    Procs = C(erlang, processes, []),
    Rex = C(erlang, whereis, [rex]),
    Items = [registered_name, message_queue_len, links, monitors, monitored_by,
             memory, status, reductions, dictionary, current_function,
             initial_call, group_leader, trap_exit, messages],
    Unnamed = hd([P || P <- Procs, C(erlang, process_info, [P, registered_name]) =:= []]),
    [{processes, is_list(Procs) andalso lists:all(fun is_pid/1, Procs) andalso length(Procs) > 3},
     {rex_listed, lists:member(Rex, Procs)},
     {info_keys, [K || {K, _} <- C(erlang, process_info, [Rex])]},
     {info_types, [{K, type(V)} || {K, V} <- C(erlang, process_info, [Rex, Items])]},
     {info_one, type(C(erlang, process_info, [Rex, message_queue_len]))},
     {info_unnamed, C(erlang, process_info, [Unnamed, registered_name])},
     {info_bad_item, element(1, C(erlang, process_info, [Rex, no_such_item]))},
     {memory_keys, [K || {K, _} <- C(erlang, memory, [])]},
     {memory_types, lists:usort([type(V) || {_, V} <- C(erlang, memory, [])])},
     {memory_total, type(C(erlang, memory, [total]))},
     {memory_list, [{K, type(V)} || {K, V} <- C(erlang, memory, [[total, processes]])]},
     {system_info, [{I, type(C(erlang, system_info, [I]))}
                    || I <- [process_count, process_limit, otp_release, version,
                             system_version, machine, schedulers,
                             schedulers_online, logical_processors, wordsize,
                             system_architecture, port_count, atom_limit]]},
     {system_info_bad, element(1, C(erlang, system_info, [no_such_item]))},
     {statistics, [{I, type(C(erlang, statistics, [I]))}
                   || I <- [runtime, wall_clock, reductions, exact_reductions,
                            run_queue, total_run_queue_lengths, context_switches,
                            garbage_collection, total_active_tasks]]},
     {registered, lists:all(fun is_atom/1, C(erlang, registered, []))
                  andalso lists:member(rex, C(erlang, registered, []))},
     {whereis_missing, C(erlang, whereis, [no_such_name])},
     {alive, C(erlang, is_process_alive, [Rex])},
     {nodes_this, C(erlang, nodes, [this]) =:= [N]},
     {nodes_connected, lists:member(node(), C(erlang, nodes, [connected]))
                       orelse N =:= node()}].

type([]) -> list;
type(V) when is_integer(V) -> integer;
type(V) when is_float(V) -> float;
type(V) when is_boolean(V) -> boolean;
type(V) when is_atom(V) -> atom;
type(V) when is_pid(V) -> pid;
type(V) when is_binary(V) -> binary;
type(V) when is_map(V) -> map;
type(V) when is_tuple(V) -> {tuple, [type(E) || E <- tuple_to_list(V)]};
type(V) when is_list(V) ->
    case io_lib:printable_list(V) of
        true -> string;
        false -> list
    end.

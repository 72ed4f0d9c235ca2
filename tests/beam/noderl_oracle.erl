%% The BEAM side of noderl's codec tests: generates random terms and checks
%% that what noderl sends back is exactly what it was given.
-module(noderl_oracle).
-export([gen/3, check/2, order/2, term/1, bench/2]).
-compile({no_auto_import, [size/1]}).

%% Writes N random terms to File as [Len:32, term_to_binary(T)] records.
gen(N, Seed, File) ->
    rand:seed(exsss, {Seed, Seed * 7 + 1, Seed * 13 + 2}),
    Bin = << <<(byte_size(B)):32, B/binary>> || B <- [term_to_binary(term(3)) || _ <- lists:seq(1, N)] >>,
    ok = file:write_file(File, Bin).

%% Compares the terms in Orig and Back pairwise with =:=.
check(OrigFile, BackFile) ->
    {ok, A} = file:read_file(OrigFile),
    {ok, B} = file:read_file(BackFile),
    As = split(A), Bs = split(B),
    case length(As) =:= length(Bs) of
        false -> io:format("count mismatch ~p ~p~n", [length(As), length(Bs)]), halt(1);
        true -> ok
    end,
    Bad = [{I, X, Y} || {I, X, Y} <- lists:zip3(lists:seq(1, length(As)), As, Bs),
                        binary_to_term(X) =/= binary_to_term(Y)],
    case Bad of
        [] -> io:format("ok ~p~n", [length(As)]), halt(0);
        [{I, X, Y} | _] ->
            io:format("mismatch ~p of ~p at ~p~n~P~n~P~n",
                      [length(Bad), length(As), I, binary_to_term(X), 30, binary_to_term(Y), 30]),
            halt(1)
    end.

%% Sorts the terms in File in term order (=<, stable) and in exact order
%% (as map keys are ordered: erts_internal:cmp_term/2); prints the two
%% permutations as lines of 1-based indices.
order(File, Out) ->
    {ok, A} = file:read_file(File),
    Ts = lists:zip(lists:seq(1, length(split(A))), [binary_to_term(B) || B <- split(A)]),
    ByTerm = lists:sort(fun({_, X}, {_, Y}) -> X =< Y end, Ts),
    ByExact = lists:sort(fun({_, X}, {_, Y}) -> erts_internal:cmp_term(X, Y) =< 0 end, Ts),
    Line = fun(L) -> lists:join(" ", [integer_to_list(I) || {I, _} <- L]) end,
    ok = file:write_file(Out, [Line(ByTerm), "\n", Line(ByExact), "\n"]),
    halt(0).

split(<<>>) -> [];
split(<<L:32, B:L/binary, Rest/binary>>) -> [B | split(Rest)].

%% term_to_binary/binary_to_term speed over a file of terms, for the bench.
bench(File, Rounds) ->
    {ok, A} = file:read_file(File),
    Ts = [binary_to_term(B) || B <- split(A)],
    Bs = [term_to_binary(T) || T <- Ts],
    Bytes = lists:sum([byte_size(B) || B <- Bs]),
    T0 = erlang:monotonic_time(microsecond),
    loop(Ts, Rounds),
    T1 = erlang:monotonic_time(microsecond),
    io:format("~p ~p ~p~n", [length(Ts) * Rounds, T1 - T0, Bytes * Rounds]).

loop(_, 0) -> ok;
loop(Ts, N) ->
    [binary_to_term(term_to_binary(T)) || T <- Ts],
    loop(Ts, N - 1).

pick(L) -> lists:nth(rand:uniform(length(L)), L).

term(0) -> leaf();
term(D) ->
    case rand:uniform(10) of
        N when N =< 5 -> leaf();
        6 -> list_to_tuple([term(D - 1) || _ <- lists:seq(1, size(D))]);
        7 -> [term(D - 1) || _ <- lists:seq(1, size(D))];
        8 -> maps:from_list([{term(D - 1), term(D - 1)} || _ <- lists:seq(1, pick([0, 1, 3, 40]) div D)]);
        9 -> improper(D);
        10 -> #{pick([a, b, c]) => term(D - 1), <<"k">> => term(D - 1), 1 => 2.5}
    end.

%% Long (300) tuples and lists only just above the leaves, so terms stay small.
size(1) -> pick([0, 1, 2, 3, 5, 300]);
size(_) -> pick([0, 1, 2, 3, 5]).

improper(D) ->
    Items = [term(D - 1) || _ <- lists:seq(1, rand:uniform(4))],
    Tail = pick([an_atom, 7, <<"t">>, {1}, 1.5]),
    lists:foldr(fun(X, Acc) -> [X | Acc] end, Tail, Items).

leaf() ->
    case rand:uniform(22) of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(1 bsl 32) - (1 bsl 31);
        3 -> big();
        4 -> -big();
        5 -> rand:uniform() * pick([1, 1.0e10, 1.0e-10, -1.0e300]);
        6 -> pick([1.0, -1.0, 0.0, -0.0, 123456.0, 9007199254740992.0, 1.0e300, 5.0e-324]);
        7 -> atom();
        8 -> pick([true, false, nil, undefined, ok, '', 'Elixir.Chat.TaskSupervisor']);
        9 -> binary();
        10 -> pick([<<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>, <<>>,
                    crypto_bytes(70000),
                    unicode:characters_to_binary("héllo wörld ✓ 🐔"), <<239, 187, 191, "bom">>]);
        11 -> bits();
        12 -> charlist();
        13 -> pick([[], "", "hello", [0, 255, 128]]);
        14 -> self();
        15 -> make_ref();
        16 -> pick([fun lists:map/2, fun erlang:node/0, fun 'Elixir.Kate':say_name/0]);
        17 -> foreign_pid();
        18 -> foreign_ref();
        19 -> erlang:list_to_port("#Port<0." ++ integer_to_list(rand:uniform(100000)) ++ ">");
        20 -> X = rand:uniform(100), fun(Y) -> X + Y end;
        21 -> pick([1 bsl 53, (1 bsl 53) - 1, -(1 bsl 53), 1 bsl 31, -(1 bsl 31) - 1, 1 bsl 64, 255, 256, -1]);
        22 -> rand:uniform(1 bsl 60)
    end.

big() -> rand:uniform(1 bsl pick([40, 60, 64, 100, 800, 2100])).

atom() ->
    Len = pick([1, 5, 20, 255]),
    Chars = [pick([$a + rand:uniform(25), $A, $_, 16#e9, 16#3b1, 16#1f414, $.]) || _ <- lists:seq(1, Len)],
    list_to_atom(Chars).

binary() ->
    crypto_bytes(pick([0, 1, 5, 31, 32, 33, 200, 1000])).

crypto_bytes(N) -> rand:bytes(N).

bits() ->
    N = rand:uniform(40),
    B = crypto_bytes(N div 8 + 1),
    <<X:N/bitstring, _/bitstring>> = B,
    X.

charlist() -> [rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(50))].

foreign_pid() ->
    Node = pick([<<"kate@localhost">>, <<"moebi@localhost">>]),
    binary_to_term(<<131, 88, 119, (byte_size(Node)), Node/binary,
                     (rand:uniform(1000)):32, 0:32, (rand:uniform(1 bsl 31)):32>>).

foreign_ref() ->
    Node = <<"kate@localhost">>,
    binary_to_term(<<131, 90, 0, 3, 119, (byte_size(Node)), Node/binary,
                     (rand:uniform(1 bsl 31)):32, (rand:uniform(1 bsl 18)):32,
                     (rand:uniform(1 bsl 31)):32, (rand:uniform(1 bsl 31)):32>>).

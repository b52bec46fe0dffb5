import itertools

from newsbeam.transforms.stories import IndexedCluster, StoryUpdate, resolve_clusters


def story(cluster_id, canonical, size):
    return {"cluster_id": cluster_id, "is_canonical": canonical, "size": size}


def test_batch_cluster_takes_the_earliest_members_id_whatever_the_order():
    nodes = [
        ("b", "2020-06-27T10:00:00Z"),
        ("a", "2020-06-27T12:00:00Z"),
        ("c", None),
        ("d", "2020-06-26T00:00:00Z"),
    ]
    edges = [("a", "b"), ("b", "c")]
    for perm in itertools.permutations(nodes):
        stories, updates = resolve_clusters(list(perm), edges, [])
        assert stories == {
            "a": story("b", False, 3),
            "b": story("b", True, 3),
            "c": story("b", False, 3),
            "d": story("d", True, 1),
        }
        assert updates == []


def test_ties_and_missing_dates_fall_back_to_the_smallest_id():
    stories, _ = resolve_clusters([("y", None), ("x", None)], [("x", "y")], [])
    assert stories["x"] == story("x", True, 2)
    assert stories["y"] == story("x", False, 2)


def test_a_later_copy_joins_the_indexed_cluster_id():
    indexed = IndexedCluster("c1", "c1", "2020-06-27T09:00:00Z", ("c1", "c2", "c3"))
    stories, updates = resolve_clusters([("n", "2020-06-28T00:00:00Z")], [], [("n", indexed)])
    assert stories == {"n": story("c1", False, 4)}
    assert updates == [StoryUpdate("c1", "c1", 4, "c1")]


def test_an_earlier_copy_only_moves_the_canonical_flag():
    indexed = IndexedCluster("c1", "c1", "2020-06-27T09:00:00Z", ("c1", "c2"))
    stories, updates = resolve_clusters([("n", "2020-06-26T00:00:00Z")], [], [("n", indexed)])
    assert stories == {"n": story("c1", True, 3)}
    assert updates == [StoryUpdate("c1", "c1", 3, "n")]


def test_a_revised_canonical_copy_dated_later_hands_the_flag_to_the_earliest_other_member():
    # "r" was the canonical copy; its feed entry was revised and the page re-fetched with a later
    # date: the earliest of the other members takes the flag (before: "r" kept it)
    dated = (("a", "2020-06-27T06:00:00Z"), ("b", None), ("r", "2020-06-27T05:00:00Z"))
    indexed = IndexedCluster("r", "r", "2020-06-27T05:00:00Z", ("a", "b", "r"), dated=dated)
    stories, updates = resolve_clusters([("r", "2020-07-02T00:00:00Z")], [], [("r", indexed)])
    assert stories == {"r": story("r", False, 3)}
    assert updates == [StoryUpdate("r", "r", 3, "a")]
    # dated earlier still, it keeps the flag
    stories, updates = resolve_clusters([("r", "2020-06-26T00:00:00Z")], [], [("r", indexed)])
    assert stories == {"r": story("r", True, 3)} and updates == [StoryUpdate("r", "r", 3, "r")]


def test_an_article_matching_two_indexed_clusters_merges_them_into_the_smaller_id():
    first = IndexedCluster("k2", "k2", "2020-06-27T09:00:00Z", ("k2", "k3"))
    second = IndexedCluster("k1", "k9", "2020-06-27T11:00:00Z", ("k9",))
    stories, updates = resolve_clusters([("n", "2020-06-28T00:00:00Z")], [], [("n", first), ("n", second)])
    assert stories == {"n": story("k1", False, 4)}
    assert updates == [StoryUpdate("k1", "k1", 4, "k2"), StoryUpdate("k2", "k1", 4, "k2")]


def test_excluded_digest_stays_alone_and_bridges_nothing():
    nodes = [("a", None), ("b", None), ("digest", None)]
    stories, _ = resolve_clusters(nodes, [("a", "digest"), ("digest", "b")], [], excluded=["digest"])
    assert stories == {"a": story("a", True, 1), "b": story("b", True, 1), "digest": story("digest", True, 1)}


def test_articles_already_indexed_in_the_cluster_count_once():
    indexed = IndexedCluster("a", "a", "2020-06-27T09:00:00Z", ("a", "b", "c"))
    nodes = [("a", "2020-06-27T09:00:00Z"), ("b", "2020-06-27T10:00:00Z")]
    stories, updates = resolve_clusters(nodes, [("a", "b")], [("b", indexed), ("a", indexed)])
    assert stories == {"a": story("a", True, 3), "b": story("a", False, 3)}
    assert updates == [StoryUpdate("a", "a", 3, "a")]


def test_a_shared_excerpt_links_only_the_partner_it_joins():
    nodes = [("a", None), ("e", None), ("f", None)]
    stories, _ = resolve_clusters(nodes, [("a", "e"), ("e", "f")], [], joins={"e": ("a", "f")})
    assert stories == {"a": story("a", True, 2), "e": story("a", False, 2), "f": story("f", True, 1)}
    stories, _ = resolve_clusters(nodes, [("a", "e"), ("e", "f")], [], joins={"e": ("f", "a")})
    assert stories == {"a": story("a", True, 1), "e": story("e", True, 2), "f": story("e", False, 2)}
    # Its first choice a digest (excluded), it joins the next.
    stories, _ = resolve_clusters(nodes, [("a", "e"), ("e", "f")], [], ["f"], joins={"e": ("f", "a")})
    assert stories == {"a": story("a", True, 2), "e": story("a", False, 2), "f": story("f", True, 1)}


def test_an_excerpt_of_an_indexed_story_links_only_articles_that_copy_it_too():
    """``e`` is the opening of the indexed story ``k``; ``f`` copies ``e`` but
    not ``k`` (a follow-up reusing the opening), ``g`` copies both."""
    indexed = IndexedCluster("k", "k", "2020-06-27T09:00:00Z", ("k",))
    nodes = [("e", None), ("f", None), ("g", None)]
    edges = [("e", "f"), ("e", "g")]
    as_excerpt = IndexedCluster("k", "k", "2020-06-27T09:00:00Z", ("k",), excerpt=True)
    stories, _ = resolve_clusters(nodes, edges, [("e", as_excerpt), ("g", indexed)])
    assert stories == {"e": story("k", False, 3), "f": story("f", True, 1), "g": story("k", False, 3)}
    # Matched as a whole copy, it links all three as before.
    stories, _ = resolve_clusters(nodes, edges, [("e", indexed), ("g", indexed)])
    assert {s["cluster_id"] for s in stories.values()} == {"k"}


def test_a_member_held_by_a_cluster_it_no_longer_copies_counts_once_and_joins_only_through_a_link():
    # y is indexed in c = {a, y} but copies none of it now; z copies c
    indexed = IndexedCluster(
        "a", "a", "2020-06-27T09:00:00Z", (), dated=(("a", "2020-06-27T09:00:00Z"),), size=2
    )
    held = IndexedCluster("a", "a", None, ("y",), held=True)
    nodes = [("y", "2020-06-28T00:00:00Z"), ("z", "2020-06-29T00:00:00Z")]
    stories, updates = resolve_clusters(nodes, [("y", "z")], [("z", indexed), ("y", held)])
    assert stories == {"y": story("a", False, 3), "z": story("a", False, 3)}
    assert updates == [StoryUpdate("a", "a", 3, "a")]
    # no link back to c: y is a story of its own, and c only grows by z
    stories, updates = resolve_clusters(nodes, [], [("z", indexed), ("y", held)])
    assert stories == {"y": story("y", True, 1), "z": story("a", False, 3)}
    assert updates == [StoryUpdate("a", "a", 3, "a")]

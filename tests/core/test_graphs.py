"""Graph construction: exact chunked kNN against a dense reference, and the normalisations."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from mmrecun_core.graphs import KnnGraph, knn_adjacency, knn_graph, knn_search, normalized_user_item


def dense_knn(x: torch.Tensor, k: int):
    xn = F.normalize(x, dim=1)
    return (xn @ xn.T).topk(k, dim=1)


@pytest.mark.parametrize("n,block,group,k", [(300, 64, 8, 10), (257, 100, 16, 5), (50, 4096, 64, 10), (9, 4, 2, 10), (1000, 128, 64, 10)])
def test_chunked_knn_equals_dense_reference(n, block, group, k):
    x = torch.randn(n, 24, generator=torch.Generator().manual_seed(n))
    got = knn_graph(x, k, block=block, group=group)
    want = dense_knn(x, min(k, n))
    assert torch.equal(got.index, want.indices)
    torch.testing.assert_close(got.sim, want.values, rtol=0, atol=1e-5)


def test_knn_includes_self_first():
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    g = knn_graph(x, 5, block=16, group=4)
    assert torch.equal(g.index[:, 0], torch.arange(40))
    torch.testing.assert_close(g.sim[:, 0], torch.ones(40))


def test_missing_rows_have_no_content_neighbours_and_are_nobodys_neighbour():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(80, 6, generator=g)  # non-negative, as CNN features: the mean is close to every row
    missing = np.zeros(80, dtype=bool)
    missing[[2, 5, 40, 41, 79]] = True
    x[torch.from_numpy(missing)] = x[torch.from_numpy(~missing)].mean(0)
    plain = knn_graph(x, 6)
    assert np.isin(plain.index[~missing].numpy(), np.flatnonzero(missing)).any()  # the search alone lets the mean in
    got = knn_graph(x, 6, missing)
    known = np.flatnonzero(~missing)
    alone = knn_search(x[torch.from_numpy(known)], 6)
    assert torch.equal(got.index[torch.from_numpy(~missing)], torch.from_numpy(known)[alone.index])
    torch.testing.assert_close(got.sim[torch.from_numpy(~missing)], alone.sim)
    s = knn_adjacency(got, 80).toarray()
    np.testing.assert_array_equal(s[missing], np.eye(80)[missing])  # a self-loop of weight 1, nothing else
    assert not s[~missing][:, missing].any()
    assert got.isolates(np.flatnonzero(missing)) and got.isolates(np.empty(0, np.int64))
    assert not plain.isolates(np.flatnonzero(missing))  # some known row names a missing one
    assert not got.isolates(np.array([2, 3]))  # item 3 has content neighbours
    with pytest.raises(ValueError, match="every row of this modality is missing"):
        knn_graph(x, 6, np.ones(80, dtype=bool))


def test_knn_adjacency_is_symmetrically_normalised_by_row_degree():
    index = torch.tensor([[0, 1], [1, 2], [2, 0]])
    sim = torch.tensor([[1.0, 0.5], [1.0, 0.25], [1.0, 0.1]])
    s = knn_adjacency(KnnGraph(index, sim), 3).toarray()
    deg = np.array([1.5, 1.25, 1.1])
    expected = np.zeros((3, 3))
    for i in range(3):
        for j, v in zip(index[i].tolist(), sim[i].tolist(), strict=True):
            expected[i, j] = v / np.sqrt(deg[i] * deg[j])
    np.testing.assert_allclose(s, expected, rtol=1e-6)


def test_normalized_user_item_matches_definition():
    r = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))
    a_hat, r_hat = normalized_user_item(r)
    a = np.zeros((6, 6))
    a[:3, 3:] = r.toarray()
    a[3:, :3] = r.toarray().T
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1e-12)), 0)
    np.testing.assert_allclose(a_hat.toarray(), inv[:, None] * a * inv[None, :], rtol=1e-6)
    np.testing.assert_allclose(r_hat.toarray(), a_hat.toarray()[:3, 3:], rtol=1e-6)
    assert (a_hat != a_hat.T).nnz == 0


def test_ties_go_to_the_lower_index_whatever_the_block_layout():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(60, 6, generator=g)
    x = torch.cat([base, base[:20]])  # rows 60..79 duplicate rows 0..19: similarity ties everywhere
    x = x[torch.randperm(len(x), generator=g)]
    xn = F.normalize(x.double(), dim=1)
    sim = (xn.unsqueeze(1) * xn.unsqueeze(0)).sum(dim=2)  # each pair summed in the same order: duplicates tie exactly
    # reference: larger similarity first, equal similarity -> lower index
    order = torch.sort(-sim, dim=1, stable=True).indices[:, :4]
    for block, group in [(16, 4), (7, 2), (4096, 16)]:
        got = knn_graph(x, 4, block=block, group=group)
        torch.testing.assert_close(got.sim, sim.gather(1, order).float(), rtol=0, atol=1e-6)
        assert torch.equal(got.index, order), (block, group)

"""File formats: atomic writes and byte-reproducible model files."""

import torch

from fal.io import load_client_states, load_state_dict, save_client_states, save_state_dict


def test_identical_state_dicts_give_identical_bytes(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    save_state_dict(state, tmp_path / "a.pt")
    save_state_dict(state, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded = load_state_dict(tmp_path / "a.pt")
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]  # no temporary files left


def test_client_states_round_trip_with_int_keys(tmp_path):
    states = {3: {"w": torch.ones(2)}, 0: {"w": torch.zeros(2)}}
    save_client_states(states, tmp_path / "c.pt")
    save_client_states(states, tmp_path / "d.pt")
    assert (tmp_path / "c.pt").read_bytes() == (tmp_path / "d.pt").read_bytes()
    loaded = load_client_states(tmp_path / "c.pt")
    assert set(loaded) == {0, 3} and torch.equal(loaded[3]["w"], torch.ones(2))

"""find_layers: the one layer-discovery function, on a model the book does not define."""
import pytest
from torch import nn

from critnotes.analysis.layers import find_layers


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
        self.fc = nn.Linear(4 * 26 * 26, 16)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(16, 10))


def test_by_type_in_definition_order():
    assert list(find_layers(Net())) == ["fc", "head.1"]
    assert list(find_layers(Net(), types=(nn.Conv2d, nn.Linear))) == ["encoder.0", "fc", "head.1"]


def test_by_name_and_pattern_keep_model_order():
    net = Net()
    found = find_layers(net, names=["head.1", "encoder.0"], types=None)
    assert list(found) == ["encoder.0", "head.1"] and found["head.1"] is net.head[1]
    assert list(find_layers(net, names="head.*", types=None)) == ["head.0", "head.1"]


def test_unknown_name_and_empty_selection_are_clear_errors():
    with pytest.raises(ValueError, match="no module of Net is named 'fc2'.*encoder.0"):
        find_layers(Net(), names=["fc2"])
    with pytest.raises(ValueError, match="no Linear layer among"):
        find_layers(Net(), names=["encoder.*"])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        find_layers("not a model")

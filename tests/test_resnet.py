"""BasicBlock and the CIFAR ResNet-(6n+2) builders (He et al. 2016a; [Yu et al. 2017, §4.2]).

A PyTorch replica with the same module names loads our state_dict keys one to one;
train-mode steps (outputs, every parameter gradient, running statistics) and eval mode
agree to 1e-10 relative in float64, for both shortcut options; an HVP through the whole
train-mode network agrees with PyTorch's double backward; depths and errors.
"""

import numpy as np
import pytest
from layer_checks import TOL, rel_err

import tinygrad_ngd as tg
from tinygrad_ngd import backend as B
from tinygrad_ngd import layers as L


def torch_resnet(torch, depth, num_classes, widths, shortcut):
    """The same architecture written in PyTorch, with the same attribute names."""
    nn, tf = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.projects, self.stride, self.extra = stride != 1 or cin != cout, stride, cout - cin
            if self.projects and shortcut == "B":
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = tf.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if not self.projects:
                sc = x
            elif shortcut == "B":
                sc = self.shortcut(x)
            else:
                sc = x[:, :, ::self.stride, ::self.stride]
                sc = tf.pad(sc, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
            return tf.relu(out + sc)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            n = (depth - 2) // 6
            self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            blocks, cin = [], widths[0]
            for stage, w in enumerate(widths):
                for b in range(n):
                    blocks.append(Block(cin, w, 2 if stage > 0 and b == 0 else 1))
                    cin = w
            self.layers = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            out = self.layers(tf.relu(self.bn1(self.conv1(x))))
            return self.fc(out.mean(dim=(2, 3)))

    return Net()


def make_pair(torch, depth=8, widths=(2, 4, 6), shortcut="B", num_classes=3):
    tg.set_default_dtype("float64")
    ours = L.CifarResNet(depth, num_classes, widths=widths, shortcut=shortcut)
    theirs = torch_resnet(torch, depth, num_classes, widths, shortcut)
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(B.to_numpy(v)) for k, v in state.items()})
    return ours, theirs


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_resnet_train_steps_and_eval_match_torch(torch, rng, shortcut):
    ours, theirs = make_pair(torch, shortcut=shortcut)
    for mode in ("train", "train", "eval"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        ours.zero_grad()
        theirs.zero_grad()
        x_np = rng.standard_normal((3, 3, 8, 8))
        x = tg.Tensor(x_np, requires_grad=True)
        xt = torch.tensor(x_np, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        gy = rng.standard_normal(y.shape)
        y.backward(gy)
        yt.backward(torch.tensor(gy))
        assert rel_err(y.numpy(), yt.detach().numpy()) <= TOL, mode
        assert rel_err(x.grad.numpy(), xt.grad.numpy()) <= TOL, mode
        for (name, p), pt in zip(ours.named_parameters(), theirs.parameters()):
            assert rel_err(p.grad.numpy(), pt.grad.numpy()) <= TOL, (mode, name)
    tstate = theirs.state_dict()
    for k, v in ours.state_dict().items():
        assert rel_err(B.to_numpy(v), tstate[k].numpy()) <= TOL, k


def test_resnet_hvp_in_train_mode_matches_torch(torch, rng):
    ours, theirs = make_pair(torch, widths=(2, 2, 3))
    x_np, labels = rng.standard_normal((4, 3, 6, 6)), np.array([0, 2, 1, 1])
    vs = [rng.standard_normal(p.shape) for p in ours.parameters()]
    loss = tg.functional.cross_entropy(ours(tg.Tensor(x_np)), labels)
    gs = tg.grad(loss, ours.parameters(), create_graph=True)
    dot = gs[0].sum() * 0.0
    for g, v in zip(gs, vs):
        dot = dot + (g * tg.Tensor(v)).sum()
    hv = tg.grad(dot, ours.parameters())
    lt = torch.nn.functional.cross_entropy(theirs(torch.tensor(x_np)), torch.tensor(labels))
    gts = torch.autograd.grad(lt, list(theirs.parameters()), create_graph=True)
    hvt = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(gts, vs)), list(theirs.parameters()))
    for a, b in zip(hv, hvt):
        assert rel_err(a.numpy(), b.numpy()) <= TOL


@pytest.mark.parametrize("builder,depth", [(L.resnet20, 20), (L.resnet32, 32), (L.resnet44, 44),
                                           (L.resnet56, 56), (L.resnet110, 110)])
def test_builders_have_6n_plus_2_weighted_layers(builder, depth):
    net = builder(num_classes=100)
    n = (depth - 2) // 6
    main_convs = [name for name, m in net.named_modules()
                  if isinstance(m, L.Conv2d) and "shortcut" not in name]
    assert len(main_convs) + 1 == depth == net.depth  # convs + the final Dense
    assert len(net.layers) == 3 * n
    assert net.fc.weight.shape == (100, 64)


def test_resnet20_parameter_count_and_he_init():
    net = L.resnet20(shortcut="A")
    assert sum(p.size for p in net.parameters()) == 269_722  # He et al.'s 0.27M
    w = net.layers[3].conv1.weight.numpy()     # (32, 16, 3, 3): std √(2/(9·32))
    assert abs(w.std() / np.sqrt(2 / (9 * 32)) - 1) < 0.05


def test_resnet_forward_shapes_and_errors():
    net = L.CifarResNet(8, 10, widths=(2, 3, 4))
    y = net(tg.Tensor(np.zeros((2, 3, 32, 32), np.float32)))
    assert y.shape == (2, 10) and y.dtype == np.float32
    with pytest.raises(ValueError, match=r"6n \+ 2"):
        L.CifarResNet(21)
    with pytest.raises(ValueError, match=r"CifarResNet.*\(N, 3, H, W\).*\(2, 1, 32, 32\)"):
        net(tg.Tensor(np.zeros((2, 1, 32, 32), np.float32)))
    with pytest.raises(ValueError, match="shortcut"):
        L.BasicBlock(2, 4, 2, shortcut="C")

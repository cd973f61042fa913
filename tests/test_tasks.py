import math
import pytest
import torch

from benchmark.config import RunConfig
from benchmark.errors import ConfigError, IntrobenchError
from benchmark.run import run
from tasks import count_parameters, create_task, list_tasks

PAPER_TASKS = ["alexnet", "cifar1", "inception_v1", "mnist1", "mnist2", "mnist3", "mnist4", "n0"]


def test_all_paper_tasks_registered():
    assert set(PAPER_TASKS) <= set(list_tasks())


# SPEC.md's shapes, in TF's [in, out] order; PyTorch stores Linear weights as [out, in].
SHAPES = {
    "n0": {"features.0.weight": (8, 1, 5, 5), "features.3.weight": (16, 8, 5, 5), "features.6.weight": (32, 16, 5, 5),
           "fc1.weight": (1024, 512), "fc2.weight": (10, 1024)},
    "mnist1": {"features.0.weight": (32, 1, 5, 5), "features.3.weight": (64, 32, 5, 5), "fc1.weight": (1024, 3136),
               "fc2.weight": (10, 1024)},
    "mnist2": {"features.0.weight": (20, 1, 5, 5), "features.2.weight": (50, 20, 5, 5), "fc1.weight": (500, 800),
               "fc2.weight": (10, 500)},
    "mnist3": {"fc1.weight": (256, 784), "fc2.weight": (256, 256), "fc3.weight": (10, 256)},
    "mnist4": {"lstm.weight_ih_l0": (512, 28), "lstm.weight_hh_l0": (512, 128), "fc.weight": (10, 128)},
    "cifar1": {"features.0.weight": (64, 3, 5, 5), "features.4.weight": (64, 64, 5, 5),
               "classifier.0.weight": (384, 2304), "classifier.2.weight": (192, 384), "classifier.4.weight": (10, 192)},
    "alexnet": {"features.0.weight": (96, 3, 11, 11), "features.4.weight": (256, 96, 5, 5),
                "classifier.1.weight": (4096, 9216), "classifier.6.weight": (1000, 4096)},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_parameter_shapes_match_spec(name):
    task = create_task(name)
    model = task.model(1000 if task.dataset == "imagenet" else 10)
    params = dict(model.named_parameters())
    for key, shape in SHAPES[name].items():
        assert tuple(params[key].shape) == shape, key


def test_inception_v1_is_googlenet():
    model = create_task("inception_v1").model(1000)
    assert type(model).__name__ == "GoogLeNet"
    assert 6_500_000 < count_parameters(model) < 7_000_000


def test_paper_settings():
    m3 = create_task("mnist3")
    assert (m3.steps, m3.batch_size, m3.jumps, m3.target) == (15_000, 100, (6000, 8000, 10000), 0.9571)
    c1 = create_task("cifar1")
    assert (c1.steps, c1.batch_size, c1.jumps, c1.image_size) == (40_000, 128, (12000, 17000), 24)
    assert create_task("alexnet").metric == "top5"
    opt = create_task("mnist2").optimizer([torch.nn.Parameter(torch.zeros(1))])
    assert opt.defaults["momentum"] == 0.9 and opt.defaults["weight_decay"] == 5e-4


@pytest.mark.parametrize("name", list_tasks() + ["timm:resnet18"])
def test_every_task_trains_at_reduced_budget(name, data_dir, tiny_imagefolder, tmp_path):
    from unittest import mock

    from tests.test_data import make_tiny_copy

    task = create_task(name, reduced=True)
    where = tiny_imagefolder if task.dataset == "imagenet" else data_dir
    if task.dataset == "cifar100":  # not on this machine: a tiny copy in its real layout
        where = tmp_path / "data"
        make_tiny_copy("cifar100", where, data_dir)
    with mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True):
        result = run(RunConfig(task=name, reduced=True, steps=2, eval_every=2, data_dir=str(where)), progress=False)
    assert result.summary["status"] == "finished"
    assert [p["step"] for p in result.curve] == [0, 2]
    losses = [p["loss"] for p in result.curve if p["loss"] is not None]
    assert losses and all(math.isfinite(l) and l > 0 for l in losses)  # it really took training steps


def test_unknown_task_lists_valid_names():
    with pytest.raises(IntrobenchError, match="valid names: .*mnist3"):
        create_task("mnist9")


def test_unknown_timm_model():
    with pytest.raises(ConfigError, match="timm has no model 'resnet_nope'"):
        create_task("timm:resnet_nope")
    with pytest.raises(ConfigError, match="'resnet18.nope' has no such pretrained tag; known: resnet18.a1_in1k"):
        create_task("timm:resnet18.nope")
    with pytest.raises(ConfigError, match="unknown dataset 'svhn'; known: cifar10"):
        create_task("timm:resnet18@svhn")


@pytest.mark.parametrize("name,dataset,size,small", [("timm:vit_tiny_patch16_224", "cifar10", 224, 224),
                                                     ("timm:resnet18.a1_in1k@fashion_mnist", "fashion_mnist", 224, 28)])
def test_timm_models_train_on_any_dataset_at_their_pretrained_input_size(name, dataset, size, small, data_dir):
    task = create_task(name)
    assert (task.dataset, task.image_size, task.normalize) == (dataset, size, True)
    reduced = create_task(name, reduced=True)  # a fixed-size ViT keeps 224 px even in the smoke budget
    assert reduced.image_size == small
    import timm
    from unittest import mock

    seen, create = [], timm.create_model

    def watched(*args, **kw):  # the model the run builds, with a hook that sees every batch it gets
        model = create(*args, **kw)
        model.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape[1:])))
        return model

    with mock.patch("timm.create_model", watched):
        result = run(RunConfig(task=name, reduced=True, steps=2, eval_every=2, data_dir=str(data_dir)), progress=False)
    assert result.summary["status"] == "finished"
    channels = 1 if dataset == "fashion_mnist" else 3
    assert set(seen) == {(channels, small, small)}  # every batch resized on the device to the model's size


def test_a_timm_model_that_cannot_run_on_a_dataset_fails_validation(tmp_path):
    from benchmark.suites import SuiteError, load_suite

    path = tmp_path / "s.yaml"
    path.write_text("experiments: [{task: 'timm:csatv2@fashion_mnist', forecasters: [none]}]")
    with pytest.raises(SuiteError, match=r"experiments\[0\]\.task: timm:csatv2@fashion_mnist cannot run on "
                                         r"fashion_mnist \(1 channel\(s\), 512 px"):
        load_suite(str(path))
    assert create_task("timm:csatv2").image_size == 512  # the same model on 3-channel CIFAR-10 is fine


def test_bad_override_names_the_field():
    with pytest.raises(ConfigError, match="steps: must be a positive integer"):
        create_task("mnist3", steps=0)
    with pytest.raises(ConfigError, match="not a task setting"):
        create_task("mnist3", stepz=3)


def test_nino_fm16_learns_the_real_fashion_mnist(data_dir):
    result = run(RunConfig(task="fm16", steps=500, eval_every=500, data_dir=str(data_dir)), progress=False)
    assert result.summary["final_accuracy"] >= 0.75, result.summary
    task = create_task("fm16")
    assert (task.train_subset, task.subset, task.normalize, task.batch_size, task.steps) == (55_000, "first", True,
                                                                                            128, 10_000)

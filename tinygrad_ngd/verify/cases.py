"""The reference cases of the conformance catalog: what each case runs (no arrays here).

A case is one optimizer with one option set, an optional learning-rate (or momentum)
schedule, one portable problem and a step count.  Hyper-parameters use PyTorch's keyword
names (``lr``, ``momentum``, ``betas``, ``eps``, ``weight_decay``, …) plus our convention
flags (``eps_mode``, ``form``, ``variant``) where a case exercises one.  A wrapper
(``BlockNormalized``, ``NGAdap``, ``ClipGradNorm``) names its base optimizer in ``base``.

Problems (all float64, generated from a seed with NumPy only — see :mod:`.problems`):

* ``quad8``: noisy quadratic, n = 8, condition 10, noise 0.1;
* ``grads_1e-8``, ``grads_1``, ``grads_1e8``: fixed gradient streams N(0, s²), n = 6;
* ``mlp``: a 3-5-2 tanh network's mini-batch gradients (32 parameters, blocks 15, 5, 10, 2).
"""

from __future__ import annotations

# name -> (kind, keyword arguments of the generator in problems.py)
PROBLEMS = {
    "quad8": ("noisy_quadratic", {"n": 8, "steps": 200, "seed": 0, "condition": 10.0, "noise": 0.1}),
    "grads_1e-8": ("fixed_gradients", {"n": 6, "steps": 200, "seed": 1, "scale": 1e-8}),
    "grads_1": ("fixed_gradients", {"n": 6, "steps": 200, "seed": 2, "scale": 1.0}),
    "grads_1e8": ("fixed_gradients", {"n": 6, "steps": 200, "seed": 3, "scale": 1e8}),
    "mlp": ("mlp", {"d": 3, "hidden": 5, "out": 2, "batch": 4, "steps": 200, "seed": 4}),
}
MLP_BLOCKS = [15, 5, 10, 2]


def _case(name, optimizer, hyper, problem="quad8", steps=150, schedule=None, block_sizes=None,
          base=None):
    if problem == "mlp" and block_sizes is None:
        block_sizes = MLP_BLOCKS
    return {"name": name, "optimizer": optimizer, "hyper": hyper, "schedule": schedule,
            "problem": problem, "steps": steps, "block_sizes": block_sizes, "base": base}


def _cases():
    c = _case
    sgd_m = {"lr": 0.05, "momentum": 0.9}
    return [
        # ---------------------------------------------------------------- SGD
        c("sgd_plain", "SGD", {"lr": 0.1}),
        c("sgd_momentum", "SGD", sgd_m),
        c("sgd_nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        c("sgd_dampening", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
        c("sgd_weight_decay_mlp", "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}, "mlp"),
        c("sgd_maximize", "SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}, "grads_1"),
        c("sgd_per_block_lr_mlp", "SGD", {"lr": [0.2, 0.1, 0.05, 0.02], "momentum": 0.8}, "mlp"),
        c("sgd_notes_form_steplr", "SGD", {"lr": 0.05, "momentum": 0.9, "form": "notes"},
          schedule={"name": "StepLR", "step_size": 30, "gamma": 0.5}),
        c("sgd_scale_1e8", "SGD", {"lr": 1e-9, "momentum": 0.9}, "grads_1e8"),
        # ---------------------------------------------------------------- schedules (on SGD)
        c("sched_steplr", "SGD", sgd_m, schedule={"name": "StepLR", "step_size": 25, "gamma": 0.5}),
        c("sched_multisteplr", "SGD", sgd_m, schedule={"name": "MultiStepLR", "milestones": [40, 90],
                                                         "gamma": 0.1}),
        c("sched_exponentiallr", "SGD", sgd_m, schedule={"name": "ExponentialLR", "gamma": 0.98}),
        c("sched_linearlr", "SGD", sgd_m, schedule={"name": "LinearLR", "start_factor": 0.25,
                                                     "end_factor": 1.0, "total_iters": 60}),
        c("sched_plateau", "SGD", {"lr": 0.05, "momentum": 0.9}, "mlp",
          schedule={"name": "ReduceLROnPlateau", "factor": 0.5, "patience": 5, "threshold": 1e-3}),
        c("sched_linear_decay_to_constant", "SGD", sgd_m,
          schedule={"name": "LinearDecayToConstant", "tau": 100, "final_fraction": 0.05}),
        c("sched_momentum_warmup", "SGD", {"lr": 0.05, "momentum": 0.5},
          schedule={"name": "MomentumWarmup", "start": 0.5, "end": 0.95, "warmup_steps": 80}),
        c("sched_steplr_per_block_adam", "Adam", {"lr": [0.02, 0.01, 0.02, 0.005]}, "mlp",
          schedule={"name": "StepLR", "step_size": 40, "gamma": 0.3}),
        c("sched_exponentiallr_rmsprop", "RMSprop", {"lr": 0.01}, "mlp",
          schedule={"name": "ExponentialLR", "gamma": 0.99}),
        # ---------------------------------------------------------------- Adam / AdamW
        c("adam", "Adam", {"lr": 0.02}),
        c("adam_betas", "Adam", {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6}),
        c("adam_amsgrad", "Adam", {"lr": 0.02, "amsgrad": True}),
        c("adam_l2_mlp", "Adam", {"lr": 0.01, "weight_decay": 0.05}, "mlp"),
        c("adam_decoupled_mlp", "Adam", {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True},
          "mlp"),
        c("adam_maximize", "Adam", {"lr": 0.01, "maximize": True}, "grads_1"),
        c("adam_eps_hat", "Adam", {"lr": 0.02, "eps": 1e-8, "eps_mode": "hat"}, "grads_1e-8"),
        c("adam_eps_none", "Adam", {"lr": 0.02, "eps_mode": "none"}),
        c("adam_scale_1e-8", "Adam", {"lr": 0.01}, "grads_1e-8"),
        c("adam_scale_1e8", "Adam", {"lr": 0.01}, "grads_1e8"),
        c("adam_per_block_lr_mlp", "Adam", {"lr": [0.01, 0.02, 0.005, 0.01]}, "mlp"),
        c("adamw", "AdamW", {"lr": 0.02, "weight_decay": 0.1}),
        c("adamw_amsgrad_mlp", "AdamW", {"lr": 0.01, "weight_decay": 0.01, "amsgrad": True}, "mlp"),
        # ---------------------------------------------------------------- Adamax
        c("adamax", "Adamax", {"lr": 0.02}),
        c("adamax_weight_decay_mlp", "Adamax", {"lr": 0.01, "weight_decay": 0.01}, "mlp"),
        c("adamax_scale_1e-8", "Adamax", {"lr": 0.01}, "grads_1e-8"),
        c("adamax_eps_none", "Adamax", {"lr": 0.02, "eps_mode": "none"}),
        # ---------------------------------------------------------------- Adagrad
        c("adagrad", "Adagrad", {"lr": 0.1}),
        c("adagrad_lr_decay", "Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
        c("adagrad_initial_accumulator_mlp", "Adagrad", {"lr": 0.05, "initial_accumulator_value": 0.1,
                                                          "weight_decay": 0.01}, "mlp"),
        c("adagrad_eps_none", "Adagrad", {"lr": 0.1, "eps_mode": "none"}),
        c("adagrad_scale_1e-8", "Adagrad", {"lr": 0.05, "eps": 1e-10}, "grads_1e-8"),
        c("adagrad_maximize", "Adagrad", {"lr": 0.05, "maximize": True}, "grads_1"),
        # ---------------------------------------------------------------- RMSprop
        c("rmsprop", "RMSprop", {"lr": 0.01}),
        c("rmsprop_centered", "RMSprop", {"lr": 0.01, "centered": True}),
        c("rmsprop_momentum", "RMSprop", {"lr": 0.005, "momentum": 0.5}),
        c("rmsprop_centered_momentum_mlp", "RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.3},
          "mlp"),
        c("rmsprop_eps_inside_sqrt", "RMSprop", {"lr": 0.01, "eps_mode": "inside_sqrt"}),
        c("rmsprop_weight_decay", "RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.05}),
        c("rmsprop_maximize", "RMSprop", {"lr": 0.01, "maximize": True}, "grads_1"),
        c("rmsprop_scale_1e-8", "RMSprop", {"lr": 0.01}, "grads_1e-8"),
        c("rmsprop_scale_1e8", "RMSprop", {"lr": 0.01, "eps_mode": "inside_sqrt"}, "grads_1e8"),
        # ---------------------------------------------------------------- Adadelta
        c("adadelta", "Adadelta", {"lr": 1.0}),
        c("adadelta_lr_weight_decay_mlp", "Adadelta", {"lr": 0.5, "rho": 0.95, "weight_decay": 0.01}, "mlp"),
        c("adadelta_scale_1e-8", "Adadelta", {"lr": 1.0, "eps": 1e-6}, "grads_1e-8"),
        # ---------------------------------------------------------------- Rprop
        c("rprop", "Rprop", {"lr": 0.01}),
        c("rprop_step_sizes", "Rprop", {"lr": 0.05, "etas": [0.4, 1.3], "step_sizes": [1e-4, 0.2]}, "grads_1"),
        c("rprop_maximize_mlp", "Rprop", {"lr": 0.01, "maximize": True}, "mlp"),
        c("rprop_plus", "Rprop", {"lr": 0.01, "variant": "rprop+"}),
        c("rprop_minus", "Rprop", {"lr": 0.01, "variant": "rprop-"}),
        # ---------------------------------------------------------------- averaging
        c("asgd", "ASGD", {"lr": 0.05}),
        c("asgd_averaging_from_t0", "ASGD", {"lr": 0.05, "lambd": 1e-3, "alpha": 0.6, "t0": 20.0}),
        c("asgd_weight_decay_mlp", "ASGD", {"lr": 0.1, "weight_decay": 0.01, "t0": 50.0}, "mlp"),
        # ---------------------------------------------------------------- other first-order rules
        c("sgd_history", "SGDHistory", {"lr": 0.05, "tau": 0.02}),
        c("delta_bar_delta", "DeltaBarDelta", {"lr": 0.01, "kappa": 1e-3, "phi": 0.1, "theta_bar": 0.7}),
        # ---------------------------------------------------------------- normalized family
        c("ngd_l2_block_mlp", "NGD", {"lr": 0.02}, "mlp"),
        c("ngd_linf_global", "NGD", {"lr": 0.02, "norm": "linf", "scope": "global"}),
        c("ngd_momentum", "NGD", {"lr": 0.02, "momentum": 0.9, "norm": "l2", "scope": "global"}),
        c("ngd_rms_scale_1e8", "NGD", {"lr": 0.02, "norm": "rms", "scope": "global"}, "grads_1e8"),
        c("ngd_std_per_block_lr_mlp", "NGD", {"lr": [0.01, 0.02, 0.01, 0.005], "norm": "std"}, "mlp"),
        c("adaptive_ngd_mlp", "AdaptiveNGD", {"lr": 0.01, "beta": 0.1}, "mlp"),
        c("adaptive_ngd_additive", "AdaptiveNGD", {"lr": 0.01, "beta": 0.01, "form": "additive",
                                                    "scope": "global"}),
        c("adaptive_ngd_momentum_mlp", "AdaptiveNGD", {"lr": 0.01, "beta": 0.1, "momentum": 0.5,
                                                        "adaptive_momentum": True}, "mlp"),
        c("adagrad_bng_mlp", "AdaGradBNG", {"lr": 0.05}, "mlp"),
        c("sgd_bb", "SGDBB", {"lr": 0.05, "steps_per_epoch": 10}),
        c("block_normalized_sgd_mlp", "BlockNormalized", {"lr": 0.05, "norm": "l2", "scope": "block"},
          "mlp", base={"optimizer": "SGD", "hyper": {"lr": 0.05, "momentum": 0.9}}),
        c("block_normalized_adam_mlp", "BlockNormalized", {"lr": 0.01, "norm": "linf"}, "mlp",
          base={"optimizer": "Adam", "hyper": {"lr": 0.01}}),
        c("ng_adap_sgd_mlp", "NGAdap", {"lr": 0.5, "alpha": 0.02}, "mlp",
          base={"optimizer": "SGD", "hyper": {"lr": 0.5, "momentum": 0.9}}),
        c("clip_global_torch_eps_sgd_mlp", "ClipGradNorm", {"lr": 0.1, "max_norm": 0.1, "eps": 1e-6},
          "mlp", base={"optimizer": "SGD", "hyper": {"lr": 0.1, "momentum": 0.9}}),
        c("clip_global_no_eps_adam", "ClipGradNorm", {"lr": 0.02, "max_norm": 1.0, "eps": 0.0},
          base={"optimizer": "Adam", "hyper": {"lr": 0.02}}),
        c("clip_block_sgd_mlp", "ClipGradNorm", {"lr": 0.1, "max_norm": 0.05, "scope": "block"}, "mlp",
          base={"optimizer": "SGD", "hyper": {"lr": 0.1}}),
    ]


CASES = _cases()

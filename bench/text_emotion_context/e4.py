import json
import time

import numpy as np
import torch
from common import base_probs, blend, cweights, protocol, wf1

torch.set_num_threads(1)
tr, dv, held, fit, A, B = protocol()
P_tr, P_dv = base_probs()


def base(D):
    return np.hstack([D["X"], 2 * D["S"]]).astype(np.float32)


cw = cweights(tr["y"][fit], 0.5)
W = torch.tensor([cw[i] for i in range(7)], dtype=torch.float32)


def train_mlp(Xf, yf, hidden=256, drop=0.3, epochs=40, wd=1e-3, seed=0, lr=1e-3, in_drop=0.1):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Dropout(in_drop),
        torch.nn.Linear(Xf.shape[1], hidden),
        torch.nn.GELU(),
        torch.nn.Dropout(drop),
        torch.nn.Linear(hidden, 7),
    )
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd)
    X = torch.tensor(Xf)
    y = torch.tensor(yf)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 64):
            b = perm[i : i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(X[b]), y[b], weight=W, label_smoothing=0.05)
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    return net


def probs(net, X):
    with torch.no_grad():
        return torch.softmax(net(torch.tensor(X)), 1).numpy()


Xt, Xd = base(tr), base(dv)


def rep(tag, Pt_held, Pd):
    Bd = blend(dv, Pd)
    Bh = blend({"L": tr["L"][held]}, Pt_held)
    r = dict(
        tag=tag,
        held_head=round(wf1(tr["y"][held], Pt_held.argmax(1)), 4),
        held=round(wf1(tr["y"][held], Bh.argmax(1)), 4),
        devA=round(wf1(dv["y"][A], Bd[A].argmax(1)), 4),
        devB=round(wf1(dv["y"][B], Bd[B].argmax(1)), 4),
        dev=round(wf1(dv["y"], Bd.argmax(1)), 4),
        dev_head=round(wf1(dv["y"], Pd.argmax(1)), 4),
    )
    print(json.dumps(r), flush=True)
    return r


rep("lr", P_tr[held], P_dv)
cfgs = [dict(hidden=256, drop=0.3, epochs=30), dict(hidden=512, drop=0.5, epochs=30, in_drop=0.2)]
for cfg in cfgs:
    t = time.time()
    outs_h, outs_d = [], []
    for seed in range(3):
        net = train_mlp(Xt[fit], tr["y"][fit], seed=seed, **cfg)
        outs_h.append(probs(net, Xt[held]))
        outs_d.append(probs(net, Xd))
        rep(f"mlp{cfg} s{seed} ({time.time() - t:.0f}s)", outs_h[-1], outs_d[-1])
    ph, pd = np.mean(outs_h, 0), np.mean(outs_d, 0)
    rep(f"mlp-ens3 {cfg}", ph, pd)
    rep(f"mlp-ens3+lr {cfg}", (ph + P_tr[held]) / 2, (pd + P_dv) / 2)
    np.save(f"/work/cache_meld/mlp_{cfg['hidden']}_dv.npy", pd)
    np.save(f"/work/cache_meld/mlp_{cfg['hidden']}_held.npy", ph)

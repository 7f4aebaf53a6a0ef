"""Writes end-to-end model tests laid out like the ONNX node tests: OUT/test_<name>/model.onnx plus
test_data_set_N/input_K.pb and output_K.pb, where the outputs are PyTorch's own results for the inputs.
Models are random-init (fixed seed, no downloads) and exported with dynamic batch (and sequence) axes;
the second data set of each model uses other sizes on those axes, so one loaded model serves both.

    /usr/bin/python3 tests/models/make_models.py OUT_DIR
"""
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from onnx import numpy_helper


# ---------------------------------------------------------------- BERT-like encoder (HuggingFace style)
class BertEmbeddings(nn.Module):
    def __init__(self, vocab, d, max_pos):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)
        self.position_embeddings = nn.Embedding(max_pos, d)
        self.token_type_embeddings = nn.Embedding(2, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        # as in transformers' BertEmbeddings: a buffer sliced to the sequence length (Shape/Slice in ONNX)
        self.register_buffer("position_ids", torch.arange(max_pos).expand((1, -1)))
        self.register_buffer("token_type_ids", torch.zeros((1, max_pos), dtype=torch.long))

    def forward(self, input_ids):
        seq = input_ids.size(1)
        pos = self.position_ids[:, :seq]
        tt = self.token_type_ids[:, :seq].expand(input_ids.size(0), seq)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(tt) + self.position_embeddings(pos)
        return self.LayerNorm(x)


def erf_gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class BertSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def split_heads(self, x):
        new_shape = x.size()[:-1] + (self.h, self.dh)
        return x.view(new_shape).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q, k, v = self.split_heads(self.query(x)), self.split_heads(self.key(x)), self.split_heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + ext_mask
        probs = nn.functional.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size()[:-2] + (self.h * self.dh,))


class BertLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.attention = BertSelfAttention(d, heads)
        self.attn_out = nn.Linear(d, d)
        self.attn_norm = nn.LayerNorm(d, eps=1e-12)
        self.intermediate = nn.Linear(d, ff)
        self.output = nn.Linear(ff, d)
        self.out_norm = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, ext_mask):
        x = self.attn_norm(self.attn_out(self.attention(x, ext_mask)) + x)
        return self.out_norm(self.output(erf_gelu(self.intermediate(x))) + x)


class BertLike(nn.Module):
    def __init__(self, vocab=1000, d=64, heads=4, ff=256, layers=2, max_pos=128):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, d, max_pos)
        self.layers = nn.ModuleList([BertLayer(d, heads, ff) for _ in range(layers)])
        self.pooler = nn.Linear(d, d)

    def forward(self, input_ids, attention_mask):
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * -10000.0
        x = self.embeddings(input_ids)
        for layer in self.layers:
            x = layer(x, ext)
        return x, torch.tanh(self.pooler(x[:, 0]))


# ---------------------------------------------------------------- DistilBERT-like encoder (masked_fill)
class DistilAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        bs, q_len, dim = x.size()
        k_len = mask.size(1)

        def shape(t):
            return t.view(bs, -1, self.h, self.dh).transpose(1, 2)

        q = shape(self.q_lin(x)) / math.sqrt(self.dh)
        k, v = shape(self.k_lin(x)), shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        mask = (mask == 0).view(bs, 1, 1, k_len).expand_as(scores)
        scores = scores.masked_fill(mask, torch.tensor(torch.finfo(scores.dtype).min))
        ctx = torch.matmul(nn.functional.softmax(scores, dim=-1), v)
        return self.out_lin(ctx.transpose(1, 2).contiguous().view(bs, -1, self.h * self.dh))


class DistilLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.attention = DistilAttention(d, heads)
        self.sa_layer_norm = nn.LayerNorm(d, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.output_layer_norm = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, mask):
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.lin2(F.gelu(self.lin1(x))) + x)


class DistilBertLike(nn.Module):
    def __init__(self, vocab=1000, d=64, heads=4, ff=256, layers=2, max_pos=128):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)
        self.position_embeddings = nn.Embedding(max_pos, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList([DistilLayer(d, heads, ff) for _ in range(layers)])

    def forward(self, input_ids, attention_mask):
        seq = input_ids.size(1)
        pos = torch.arange(seq, dtype=torch.long, device=input_ids.device)  # Range in ONNX
        pos = pos.unsqueeze(0).expand_as(input_ids)
        x = self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(pos))
        for layer in self.layers:
            x = layer(x, attention_mask)
        return x


# ---------------------------------------------------------------- YOLO-style detector
class ConvBnSiLU(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class C2f(nn.Module):
    """Split in two, run bottlenecks on one half, concatenate every stage (YOLOv8's block)."""

    def __init__(self, c1, c2, n=1):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = ConvBnSiLU(c1, 2 * self.c)
        self.cv2 = ConvBnSiLU((2 + n) * self.c, c2)
        self.m = nn.ModuleList(nn.Sequential(ConvBnSiLU(self.c, self.c, 3), ConvBnSiLU(self.c, self.c, 3))
                               for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            y.append(y[-1] + m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        self.cv1 = ConvBnSiLU(c1, c1 // 2)
        self.cv2 = ConvBnSiLU(c1 // 2 * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Detect(nn.Module):
    """YOLOv5-style anchor head: per level a 1x1 conv, reshape to (b, anchors, ny, nx, outputs), sigmoid,
    then box centres from grid offsets and strides, sizes from anchors."""

    def __init__(self, nc, chs, strides, anchors):
        super().__init__()
        self.no, self.na = nc + 5, len(anchors[0]) // 2
        self.strides = strides
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32).view(len(chs), 1, -1, 1, 1, 2))
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in chs)

    def forward(self, xs):
        z = []
        for i, x in enumerate(xs):
            x = self.m[i](x)
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32),
                                    indexing="ij")
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2)
            xy, wh, conf = x.sigmoid().split((2, 2, self.no - 4), 4)
            xy = (xy * 2 - 0.5 + grid) * self.strides[i]
            wh = (wh * 2) ** 2 * self.anchors[i]
            z.append(torch.cat((xy, wh, conf), 4).view(bs, -1, self.no))
        return torch.cat(z, 1)


class TinyYolo(nn.Module):
    def __init__(self, nc=4, topk=20):
        super().__init__()
        self.topk = topk
        self.stem = ConvBnSiLU(3, 8, 3, 2)  # /2
        self.d1 = nn.Sequential(ConvBnSiLU(8, 16, 3, 2), C2f(16, 16))  # /4
        self.d2 = nn.Sequential(ConvBnSiLU(16, 32, 3, 2), C2f(32, 32))  # /8
        self.d3 = nn.Sequential(ConvBnSiLU(32, 64, 3, 2), C2f(64, 64), SPPF(64, 64))  # /16
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h1 = C2f(64 + 32, 32)  # /8
        self.down = ConvBnSiLU(32, 32, 3, 2)
        self.h2 = C2f(32 + 64, 64)  # /16
        anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]]
        self.detect = Detect(nc, (32, 64), (8.0, 16.0), anchors)

    def forward(self, img):
        p3 = self.d2(self.d1(self.stem(img)))
        p4 = self.d3(p3)
        n3 = self.h1(torch.cat((self.up(p4), p3), 1))
        n4 = self.h2(torch.cat((self.down(n3), p4), 1))
        pred = self.detect([n3, n4])  # (b, anchors, 5 + nc): xywh, objectness, class scores
        # Post-processing of the first image: best candidates, then class-agnostic NMS.
        p = pred[0]
        score, cls = (p[:, 5:] * p[:, 4:5]).max(1)
        top, idx = score.topk(self.topk)
        b = p[idx, :4]
        boxes = torch.cat((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)
        keep = torchvision.ops.nms(boxes, top, self.iou)
        return pred, boxes[keep], top[keep], cls[idx][keep]

    iou = 0.45

    def init_weights(self, example):
        """Default init lets the signal vanish, which leaves every anchor with the same score: TopK order
        would then be arbitrary. Unit-gain convs, non-trivial BatchNorm statistics and head convs scaled
        to their measured input give well-spread scores."""
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="linear")
            elif isinstance(mod, nn.BatchNorm2d):
                randomize_bn(mod)
        stds = []
        hooks = [c.register_forward_hook(lambda m, i, o: stds.append(i[0].std().item())) for c in self.detect.m]
        with torch.no_grad():
            self.eval()(example)
        for h in hooks:
            h.remove()
        for c, s in zip(self.detect.m, stds):
            nn.init.normal_(c.weight, 0, 1.5 / (s * math.sqrt(c.in_channels)))
            nn.init.normal_(c.bias, 0, 0.5)
        return self

    def check_margins(self, img):
        """Fails when float rounding could change the result: near-tied scores among the top candidates
        (TopK order) or box overlaps near the NMS threshold."""
        with torch.no_grad():
            p = self(img)[0][0]
            score = (p[:, 5:] * p[:, 4:5]).max(1)[0].sort(descending=True)[0][: self.topk + 1]
            gap = (score[:-1] - score[1:]).min().item()
            _, idx = (p[:, 5:] * p[:, 4:5]).max(1)[0].topk(self.topk)
            b = p[idx, :4]
            boxes = torch.cat((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)
            iou = torchvision.ops.box_iou(boxes, boxes)
            iou_margin = (iou - self.iou).abs().min().item()
        if gap < 2e-6 or iou_margin < 1e-4:
            raise RuntimeError("detector outputs too close to a decision boundary: score gap %g, IoU margin %g"
                               % (gap, iou_margin))


def lively_init(model, example, gain, bn_spread):
    """torchvision's init with identity BatchNorm statistics lets MobileNetV2's activations shrink to
    1e-9 by the classifier, so its logits would test nothing. Variance-preserving convs (gain 1: linear,
    2: He) and optionally random BatchNorm statistics keep every layer O(1) and input-dependent; the
    classifier is then scaled to unit-std logits, so that float32 rounding stays well inside the runner's
    atol wherever a logit is near zero. MobileNetV2 with He init or random BatchNorm statistics runs into
    ReLU6's clip often enough that float32 itself (PyTorch's as much as ours) is off float64 by 2e-5 of
    the logits' scale; at gain 1 and identity statistics it is 2e-7."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="linear")
            with torch.no_grad():
                mod.weight *= math.sqrt(gain)
        elif isinstance(mod, nn.BatchNorm2d) and bn_spread:
            randomize_bn(mod, bn_spread)
    fc = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        nn.init.normal_(fc.weight, 0, 1 / math.sqrt(fc.in_features))
        nn.init.normal_(fc.bias, 0, 0.1)
        std = model.eval()(example).std().item()
        fc.weight /= std
        fc.bias /= std
    return model


def randomize_bn(bn, spread=0.3):
    with torch.no_grad():
        bn.weight.uniform_(1 - spread, 1 + 2 * spread)
        bn.bias.normal_(0, spread)
        bn.running_mean.normal_(0, spread)
        bn.running_var.uniform_(1 - spread, 1 + spread)


# ---------------------------------------------------------------- export and test data
def write_case(out_dir, name, model, input_sets, input_names, output_names, dynamic_axes, opset):
    """Exports model with input_sets[0] as the example, then writes one test_data_set per input set."""
    case = os.path.join(out_dir, "test_" + name)
    os.makedirs(case, exist_ok=True)
    model.eval()
    path = os.path.join(case, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(model, tuple(input_sets[0]), path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for n, inputs in enumerate(input_sets):
        ds = os.path.join(case, "test_data_set_%d" % n)
        os.makedirs(ds, exist_ok=True)
        with torch.no_grad():
            outs = model(*inputs)
        if isinstance(outs, torch.Tensor):
            outs = (outs,)
        for k, (nm, t) in enumerate(zip(input_names, inputs)):
            save(os.path.join(ds, "input_%d.pb" % k), t, nm)
        for k, (nm, t) in enumerate(zip(output_names, outs)):
            # the runner's atol (1e-5) must stay small against the outputs, or they would test nothing
            if t.is_floating_point() and t.numel() > 1 and t.std().item() < 1e-2:
                raise RuntimeError("%s output %s has collapsed (std %g)" % (name, nm, t.std().item()))
            save(os.path.join(ds, "output_%d.pb" % k), t, nm)
    print("wrote", case, flush=True)


def save(path, t, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(t.numpy()), name).SerializeToString())


def text_inputs(gen, batch, seq, vocab=1000):
    ids = torch.randint(0, vocab, (batch, seq), generator=gen, dtype=torch.long)
    mask = torch.ones(batch, seq, dtype=torch.long)
    for b in range(1, batch):  # later rows padded: their tails are masked out
        mask[b, seq - 1 - 2 * b:] = 0
    return [ids, mask]


def images(gen, batch, size):
    return [torch.randn(batch, 3, size, size, generator=gen)]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_models.py OUT_DIR")
    out = sys.argv[1]
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(1234)
    img_axes = {"input": {0: "batch"}}

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    write_case(out, "mlp", mlp, [[torch.randn(1, 784, generator=gen)], [torch.randn(3, 784, generator=gen)]],
               ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}}, 13)

    cnn_axes = dict(img_axes, logits={0: "batch"})
    for name, ctor, gain, bn_spread in (("resnet18", torchvision.models.resnet18, 2, 0.1),
                                        ("mobilenet_v2", torchvision.models.mobilenet_v2, 1, 0)):
        torch.manual_seed(0)
        sets = [images(gen, 1, 64), images(gen, 2, 64)]
        model = lively_init(ctor(), sets[1][0], gain, bn_spread)
        write_case(out, name, model, sets, ["input"], ["logits"], cnn_axes, 13)

    text_axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                 "last_hidden_state": {0: "batch", 1: "seq"}}
    text_sets = [text_inputs(gen, 2, 16), text_inputs(gen, 3, 9)]
    for opset in (13, 17):
        torch.manual_seed(0)
        write_case(out, "bert_like_opset%d" % opset, BertLike(), text_sets, ["input_ids", "attention_mask"],
                   ["last_hidden_state", "pooler_output"], dict(text_axes, pooler_output={0: "batch"}), opset)
    torch.manual_seed(0)
    write_case(out, "distilbert_like", DistilBertLike(), text_sets, ["input_ids", "attention_mask"],
               ["last_hidden_state"], text_axes, 13)

    det_out = ["pred", "boxes", "scores", "classes"]
    det_axes = {"input": {0: "batch"}, "pred": {0: "batch"}, "boxes": {0: "n"}, "scores": {0: "n"},
                "classes": {0: "n"}}
    det_sets = [images(gen, 1, 64), images(gen, 2, 64)]
    torch.manual_seed(0)
    yolo = TinyYolo().init_weights(det_sets[0][0])
    for s in det_sets:
        yolo.check_margins(s[0])
    for opset in (12, 17):
        write_case(out, "yolo_like_opset%d" % opset, yolo, det_sets, ["input"], det_out, det_axes, opset)


if __name__ == "__main__":
    main()

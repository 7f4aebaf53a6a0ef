"""Writes the benchmark models to bench/models/ (git-ignored): random-init torch modules exported to
ONNX with a dynamic batch axis. No weights are downloaded. Run with /usr/bin/python3."""
import os

import torch
import torch.nn as nn
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


class TokenEncoder(nn.Module):
    def __init__(self, vocab=1000, d=256, heads=4, ff=1024, layers=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, ids):
        return self.enc(self.emb(ids))


def export(model, example, name, opset):
    model.eval()
    path = os.path.join(OUT, name)
    torch.onnx.export(model, example, path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=opset,
                      do_constant_folding=True)
    print("wrote", path)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    export(mlp, torch.randn(1, 784), "mlp.onnx", 13)
    export(torchvision.models.resnet18(), torch.randn(1, 3, 224, 224), "resnet18.onnx", 13)
    export(torchvision.models.mobilenet_v2(), torch.randn(1, 3, 224, 224), "mobilenet_v2.onnx", 13)
    # with autograd on, TransformerEncoderLayer avoids its fused fast path, which has no ONNX export
    export(TokenEncoder(), torch.randint(0, 1000, (1, 128)), "transformer.onnx", 17)


if __name__ == "__main__":
    main()

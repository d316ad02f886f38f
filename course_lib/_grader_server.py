"""Imported once by the grader's forkserver (``course_lib.grader``): what every check would
otherwise import and initialise again in each child process (PyTorch, its autograd, its Adam),
about 1 to 4 seconds a function. Small tensors only, so that no thread pool is started before
the server forks."""

import torch

import course_lib.grader  # noqa: F401

_x = torch.ones(2, dtype=torch.float64, requires_grad=True)
torch.nn.functional.max_pool2d(torch.softmax(_x, 0).reshape(1, 1, 1, 2), 1).sum().backward()
torch.optim.Adam([_x], lr=1e-3, weight_decay=0.1).step()
del _x

"""Federated learning algorithms behind one interface (``fedavg.FedAvg``); ``registry`` lists them."""

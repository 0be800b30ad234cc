"""clothpose.evaluation"""

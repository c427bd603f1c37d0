# This file is here just to define MlpPolicy/CnnPolicy/MultiInputPolicy,
# which work for REINFORCE exactly as for A2C and PPO.
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, MultiInputActorCriticPolicy

MlpPolicy = ActorCriticPolicy
CnnPolicy = ActorCriticCnnPolicy
MultiInputPolicy = MultiInputActorCriticPolicy
